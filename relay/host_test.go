package relay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	for _, c := range []struct {
		host string
		ok   bool
	}{
		{host: "127.0.0.1", ok: true},
		{host: "0.0.0.0", ok: true},
		{host: "::1", ok: true},
		{host: "::", ok: true},
		{host: "fe80::1%eth0", ok: true}, // a zone
		{host: "::ffff:10.0.0.1", ok: true},
		{host: "localhost", ok: true},
		{host: "tunnel.example.com", ok: true},
		{host: "tunnel.example.com.", ok: true}, // fully qualified
		{host: "my_db", ok: true},               // underscores: Docker Compose service names
		{host: "xn--bcher-kva.example", ok: true},
		{host: "a-b.c-d.e", ok: true},
		{host: "1password.com", ok: true}, // a label may start with a digit
		{host: strings.Repeat("a", 63) + ".com", ok: true},
		{host: ""},
		{host: "999.1.1.1"}, // not IPv4, and not a name: the last label is a number
		{host: "10.1"},
		{host: "1.2.3.4.5"},
		{host: "01.2.3.4"}, // a leading zero could be read as octal
		{host: "bad_host!"},
		{host: "bad host"},
		{host: "a..b"},
		{host: ".a"},
		{host: "."},
		{host: "-a.com"},
		{host: "a-.com"},
		{host: strings.Repeat("a", 64) + ".com"},
		{host: strings.Repeat("a.", 127) + "com"}, // 257 bytes
		{host: "bücher.example"},                  // IDNs go in punycode
		{host: "[::1]"},                           // brackets belong to host:port
		{host: "::g"},
		{host: "1.2.3.4%eth0"},
		{host: "fe80::1%"},
	} {
		err := checkHost(c.host)
		if (err == nil) != c.ok {
			t.Errorf("checkHost(%q) = %v, want ok %v", c.host, err, c.ok)
		}
	}
}

func TestCheckLocal(t *testing.T) {
	for _, c := range []struct {
		local string
		want  string // in the error; "" for none
	}{
		{local: "127.0.0.1:8080"},
		{local: "[::1]:5432"},
		{local: "[fe80::1%eth0]:22"},
		{local: "db.internal:5432"},
		{local: ":8080"}, // this host
		{local: "127.0.0.1:65535"},
		{local: "127.0.0.1:1"},
		{local: "127.0.0.1:99999", want: "local port 99999 is not 1-65535"},
		{local: "127.0.0.1:0", want: "local port 0 is not 1-65535"},
		{local: "127.0.0.1:", want: `local address "127.0.0.1:" has no port`},
		{local: "127.0.0.1:http", want: `local port "http" is not a number`},
		{local: "bad_host!:80", want: `local host "bad_host!"`},
		{local: "999.1.1.1:80", want: `local host "999.1.1.1"`},
		{local: "::1:5432", want: "not host:port"},
		{local: "127.0.0.1", want: "not host:port"},
	} {
		err := checkLocal(c.local)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("checkLocal(%q) = %v, want ok", c.local, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("checkLocal(%q) = %v, want an error with %q", c.local, err, c.want)
		}
	}
}

// TestHostSettings: public_bind and public_host take a bare host, IPv6 with
// or without brackets, and refuse what checkHost refuses, naming the key.
func TestHostSettings(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" for an error
	}{
		{in: "0.0.0.0", want: "0.0.0.0"},
		{in: "::", want: "::"},
		{in: "[::1]", want: "::1"},
		{in: "tunnel.example.com", want: "tunnel.example.com"},
		{in: "999.1.1.1"},
		{in: "[127.0.0.1]"},
		{in: "host:80"},
		{in: "bad_host!"},
	} {
		for _, key := range []string{"public_bind", "public_host"} {
			cfg := ServerConfig{Listen: "127.0.0.1:0", Token: "t"}
			if key == "public_bind" {
				cfg.PublicBind = c.in
			} else {
				cfg.PublicHost = c.in
			}
			err := cfg.Validate()
			got := cfg.PublicBind
			if key == "public_host" {
				got = cfg.PublicHost
			}
			switch {
			case c.want == "" && (err == nil || !strings.Contains(err.Error(), key+": ")):
				t.Errorf("%s = %q: err %v, want a config error naming %s", key, c.in, err, key)
			case c.want != "" && (err != nil || got != c.want):
				t.Errorf("%s = %q: got %q, %v; want %q", key, c.in, got, err, c.want)
			}
		}
	}
}

// TestReadyNotesBindAddr: a tunnel announced at an address on all
// interfaces gets a note saying it is the bind address and how to show a
// reachable one; any other address does not.
func TestReadyNotesBindAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		note bool
	}{
		{addr: "0.0.0.0:6000", note: true},
		{addr: "[::]:6000", note: true},
		{addr: "127.0.0.1:6000"},
		{addr: "tunnel.example.com:6000"},
		{addr: "[2001:db8::1]:6000"},
	} {
		var buf bytes.Buffer
		cl, err := NewClient(ClientConfig{Server: "h:1", Token: "0123456789abcdef", ID: "me",
			Tunnels: []TunnelConfig{{Name: "web", Local: "h:2"}}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		cl.setReady("web", c.addr)
		cl.Close()
		if got := strings.Contains(buf.String(), "set --public-host on the server"); got != c.note {
			t.Errorf("ready at %s: note %v, want %v; log:\n%s", c.addr, got, c.note, buf.String())
		}
	}
}
