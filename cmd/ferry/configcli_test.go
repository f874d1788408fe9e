package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrorsThroughTheBinary: what a user who mistypes a setting sees:
// exit status 2 before anything starts, and one line naming the setting as
// they gave it, with the offending value.
func TestConfigErrorsThroughTheBinary(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	client := []string{"client", "--server", "127.0.0.1:1", "--token", tok}
	for _, tc := range []struct {
		name string
		args []string
		toml string // a -c file, appended to args
		want string // in the one line; FILE is the -c file
	}{
		{name: "bare duration", args: client[:3], toml: "token = \"" + tok + "\"\ndial_timeout = 5\n[[tunnels]]\nname = \"web\"\nlocal = \"127.0.0.1:8080\"\n",
			want: `ferry client: FILE: dial_timeout: 5 is a bare number; a duration needs a unit, as a string: dial_timeout = "5s"`},
		{name: "bare float duration", args: []string{"server", "--listen", "127.0.0.1:0"}, toml: "token = \"" + tok + "\"\nheartbeat_timeout = 30.5\n",
			want: `ferry server: FILE: heartbeat_timeout: 30.5 is a bare number; a duration needs a unit, as a string: heartbeat_timeout = "30.5s"`},
		{name: "local port too big", args: append(client, "--tunnel", "web=127.0.0.1:99999:0"),
			want: `ferry client: --tunnel "web=127.0.0.1:99999:0": local port 99999 is not 1-65535`},
		{name: "no local port", args: append(client, "--tunnel", "web=127.0.0.1::6000"),
			want: `ferry client: --tunnel "web=127.0.0.1::6000": local address "127.0.0.1:" has no port`},
		{name: "bad local host", args: append(client, "--tunnel", "web=bad_host!:80:0"),
			want: `ferry client: --tunnel "web=bad_host!:80:0": local host "bad_host!" is not an IP address or a DNS name`},
		{name: "bad local host in file", args: client[:3], toml: "token = \"" + tok + "\"\n[[tunnels]]\nname = \"web\"\nlocal = \"999.1.1.1:80\"\n",
			want: `ferry client: FILE: local in [[tunnels]] #1: local host "999.1.1.1" is not an IP address or a DNS name`},
		{name: "public_bind syntax", args: []string{"server", "--listen", "127.0.0.1:0", "--token", tok, "--public-bind", "999.1.1.1"},
			want: `ferry server: --public-bind: "999.1.1.1" is not an IP address or a DNS name`},
		{name: "public_bind syntax in file", args: []string{"server", "--listen", "127.0.0.1:0", "--token", tok}, toml: "public_bind = \"bad_host!\"\n",
			want: `ferry server: FILE: public_bind: "bad_host!" is not an IP address or a DNS name`},
		{name: "placeholder token", args: []string{"server", "--listen", "127.0.0.1:0", "--token", "change-me-to-a-long-random-string"},
			want: `ferry server: --token: the token is the placeholder from docs/examples`},
		{name: "placeholder token in file", args: []string{"client", "--tunnel", "web=127.0.0.1:80:0"}, toml: "server = \"127.0.0.1:1\"\ntoken = \"change-me-to-a-long-random-string\"\n",
			want: `ferry client: FILE: token: the token is the placeholder from docs/examples`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, want := tc.args, tc.want
			if tc.toml != "" {
				path := writeFile(t, tc.toml)
				args = append(append([]string{}, args...), "-c", path)
				want = strings.ReplaceAll(want, "FILE", path)
			}
			code, _, stderr := runFerry(t, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			line := strings.TrimSpace(stderr)
			if !strings.HasPrefix(line, want) || strings.Contains(line, "\n") || strings.Contains(line, "relay:") {
				t.Errorf("stderr:\n%s\nwant one line starting\n%s", stderr, want)
			}
		})
	}
}

// TestPublicBindNotOnThisHostExits1: a public_bind that is a valid address
// but none of this host's fails at start, not at each tunnel, as a run-time
// failure (exit 1) naming public_bind.
func TestPublicBindNotOnThisHostExits1(t *testing.T) {
	const notHere = "192.0.2.1" // TEST-NET-1, documentation only
	if ln, err := net.Listen("tcp", notHere+":0"); err == nil {
		ln.Close()
		t.Skipf("%s is an address of this host", notHere)
	}
	srv := startFerry(t, "server", "server", "--listen", "127.0.0.1:0", "--token", "0123456789abcdef0123", "--public-bind", notHere)
	if code := srv.wait(); code != exitFatal {
		t.Fatalf("exit %d, want %d", code, exitFatal)
	}
	line := srv.waitLog("why it did not start", msgIs("cannot start server"))
	if err, _ := line["err"].(string); !strings.Contains(err, `public_bind "`+notHere+`"`) {
		t.Errorf("err %q does not name public_bind and its value", err)
	}
}

// TestTokenFromFileAndEnvironment: the token kept out of ps: the server reads
// it from --token-file, the client from FERRY_TOKEN, and they authenticate.
// The server announces its tunnels at --public-host; the port is the one
// that relays. A long token in a private file draws no warning.
func TestTokenFromFileAndEnvironment(t *testing.T) {
	const tok = "d6c1f0c2b1a4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(tokenEnv, tok) // for the client; the server's flag wins over it
	srv, srvAddr := startServer(t, "--token-file", file, "--public-host", "tunnel.example.com")
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--id", "e2e-env", "--tunnel", "echo="+echoBackend(t)+":0")
	ready := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
		addr, _ := m["public_addr"].(string)
		return addr != "" && m["msg"] == "tunnel echo ready at "+addr
	})
	host, port, _ := net.SplitHostPort(ready["public_addr"].(string))
	if host != "tunnel.example.com" {
		t.Errorf("ready at %v, want the public host", ready["public_addr"])
	}
	open := srv.waitLog("the tunnel it opened", msgIs("tunnel open"))
	if open["public_addr"] != ready["public_addr"] || open["bind_addr"] != "127.0.0.1:"+port {
		t.Errorf("server logged public_addr %v, bind_addr %v; want %v and 127.0.0.1:%s", open["public_addr"], open["bind_addr"], ready["public_addr"], port)
	}
	if got := roundTrip(t, "127.0.0.1:"+port, "kept out of ps"); got != "kept out of ps" {
		t.Errorf("echo through the tunnel: %q", got)
	}
	for _, p := range []*proc{srv, cl} {
		if log := p.log(); strings.Contains(log, `"level":"WARN"`) || strings.Contains(log, tok) {
			t.Errorf("%s warned or logged the token:\n%s", p.name, log)
		}
	}
}

// TestWeakTokenWarns: a short token, and a token file other users can read,
// are each a warning at start, not an error: the tunnel still works.
func TestWeakTokenWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	warning := func(msg string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["level"] == "WARN" && m["msg"] == msg }
	}
	const short = "the token is shorter than 16 characters and may be guessed; use a long random one: openssl rand -hex 32"
	srv, srvAddr := startServer(t, "--token-file", file)
	srv.waitLog("a short-token warning", warning(short))
	loose := srv.waitLog("a token-file warning", warning("the token file is readable by other users; make it readable by ferry's user alone (chmod 600)"))
	if loose["file"] != file || loose["mode"] != "0644" {
		t.Errorf("token-file warning names %v, mode %v; want %s, 0644", loose["file"], loose["mode"], file)
	}
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret", "--id", "e2e-weak", "--tunnel", "echo="+echoBackend(t)+":0")
	cl.waitLog("a short-token warning", warning(short))
	cl.waitLog("the tunnel ready", func(m map[string]any) bool { return m["tunnel"] == "echo" && m["public_addr"] != nil })
}
