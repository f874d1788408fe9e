package relay_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
)

// TestPublicHost: with public_host set, the client learns its tunnel's
// address as that host and the port the server bound; without it, the bound
// address. Either way the port is the one that relays.
func TestPublicHost(t *testing.T) {
	for _, c := range []struct {
		name, publicHost, wantHost string
	}{
		{name: "none", wantHost: "127.0.0.1"},
		{name: "name", publicHost: "tunnel.example.com", wantHost: "tunnel.example.com"},
		{name: "IPv6 in brackets", publicHost: "[2001:db8::1]", wantHost: "2001:db8::1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkLeaks(t)
			srv := startServer(t, "", func(cfg *relay.ServerConfig) { cfg.PublicHost = c.publicHost })
			cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), 0), nil)
			addr := waitTunnel(t, cl, "web")
			host, port, err := net.SplitHostPort(addr)
			if err != nil || host != c.wantHost {
				t.Fatalf("tunnel ready at %q, want host %s", addr, c.wantHost)
			}
			if err := echoRoundTrip(net.JoinHostPort("127.0.0.1", port), 1000); err != nil {
				t.Errorf("through port %s: %v", port, err)
			}
		})
	}
}

// TestPublicBindNotHere: a public_bind that is no address of this host
// stops the server at start, naming public_bind, as a failure at run time
// (not a config error: the same config may work on another host).
func TestPublicBindNotHere(t *testing.T) {
	const notHere = "192.0.2.1" // TEST-NET-1, documentation only
	if ln, err := net.Listen("tcp", notHere+":0"); err == nil {
		ln.Close()
		t.Skipf("%s is an address of this host", notHere)
	}
	_, err := relay.NewServer(relay.ServerConfig{Listen: "127.0.0.1:0", Token: token, PublicBind: notHere})
	if err == nil || errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), "public_bind") {
		t.Fatalf("err %v, want a start-up failure naming public_bind", err)
	}
}
