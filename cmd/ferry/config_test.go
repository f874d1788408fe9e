package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The examples in docs/ must load and validate as they are, given the token
// file they name, and the systemd units' command lines must start from them.
func TestDocExamplesLoad(t *testing.T) {
	const tokenPath = "/etc/ferry/token" // where the examples keep the token
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var srv relay.ServerConfig
	if err := relay.LoadTOML("../../docs/examples/server.toml", &srv); err != nil {
		t.Fatal(err)
	}
	if srv.TokenFile != tokenPath {
		t.Errorf("server.toml: token_file %q, want %q", srv.TokenFile, tokenPath)
	}
	srv.TokenFile = token
	if err := srv.Validate(); err != nil {
		t.Fatalf("server.toml: %v", err)
	}
	var cl relay.ClientConfig
	if err := relay.LoadTOML("../../docs/examples/client.toml", &cl); err != nil {
		t.Fatal(err)
	}
	if cl.TokenFile != tokenPath {
		t.Errorf("client.toml: token_file %q, want %q", cl.TokenFile, tokenPath)
	}
	cl.TokenFile = token
	if err := cl.Validate(); err != nil {
		t.Fatalf("client.toml: %v", err)
	}

	// And through the command lines of the systemd units, which start from
	// the flag defaults and hand over the config and the token as
	// credentials.
	for _, unit := range []struct {
		name  string
		parse func(args []string) error
	}{
		{"server", func(args []string) error { _, err := parseServer(args, io.Discard); return err }},
		{"client", func(args []string) error { _, err := parseClient(args, io.Discard); return err }},
	} {
		creds := t.TempDir()
		for _, f := range [][2]string{{"../../docs/examples/" + unit.name + ".toml", unit.name + ".toml"}, {token, "token"}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(creds, f[1]), b, 0o400); err != nil {
				t.Fatal(err)
			}
		}
		unitText, err := os.ReadFile("../../docs/examples/ferry-" + unit.name + ".service")
		if err != nil {
			t.Fatal(err)
		}
		var execs int
		for _, line := range strings.Split(string(unitText), "\n") {
			cmd, ok := strings.CutPrefix(line, "ExecStart=/usr/local/bin/ferry "+unit.name+" ")
			if !ok {
				continue
			}
			execs++
			args := strings.Fields(strings.ReplaceAll(cmd, "${CREDENTIALS_DIRECTORY}", creds))
			if err := unit.parse(args); err != nil {
				t.Errorf("ferry-%s.service: ferry %s %s: %v", unit.name, unit.name, cmd, err)
			}
		}
		if execs == 0 {
			t.Errorf("ferry-%s.service: no ExecStart line found", unit.name)
		}
	}
}

func TestServerConfigLayers(t *testing.T) {
	path := writeFile(t, `
listen = "127.0.0.1:7100"
token = "from-file"
heartbeat_interval = "20s"
heartbeat_timeout = "1m"
`)
	for _, tc := range []struct {
		name string
		args []string
		want relay.ServerConfig
	}{
		{
			name: "defaults",
			args: []string{"--token", "t"},
			want: relay.ServerConfig{Listen: relay.DefaultListen, Token: "t",
				PublicBind: "0.0.0.0", HeartbeatInterval: relay.DefaultHeartbeatInterval,
				HeartbeatTimeout: relay.DefaultHeartbeatTimeout, HandshakeTimeout: relay.DefaultHandshakeTimeout,
				DataTimeout: relay.DefaultDataTimeout, ShutdownTimeout: relay.DefaultShutdownTimeout},
		},
		{
			name: "file over defaults",
			args: []string{"-c", path},
			want: relay.ServerConfig{Listen: "127.0.0.1:7100", Token: "from-file",
				PublicBind: "127.0.0.1", HeartbeatInterval: 20 * time.Second, HeartbeatTimeout: time.Minute,
				HandshakeTimeout: relay.DefaultHandshakeTimeout, DataTimeout: relay.DefaultDataTimeout,
				ShutdownTimeout: relay.DefaultShutdownTimeout},
		},
		{
			// Flags win over the file wherever they appear, before -c or
			// after, and only where they appear.
			name: "flags over file",
			args: []string{"--heartbeat-interval", "5s", "-c", path, "--idle-timeout", "2m", "--token", "from-flag"},
			want: relay.ServerConfig{Listen: "127.0.0.1:7100", Token: "from-flag",
				PublicBind: "127.0.0.1", HeartbeatInterval: 5 * time.Second, HeartbeatTimeout: time.Minute,
				HandshakeTimeout: relay.DefaultHandshakeTimeout, DataTimeout: relay.DefaultDataTimeout,
				IdleTimeout: 2 * time.Minute, ShutdownTimeout: relay.DefaultShutdownTimeout},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServer(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			// Compare what a user set; the logger and parsed fields are the
			// relay package's business.
			want := tc.want
			if err := want.Validate(); err != nil {
				t.Fatal(err)
			}
			got.Logger, want.Logger = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestClientConfigLayers(t *testing.T) {
	path := writeFile(t, `
server = "tunnel.example.com:7000"
token = "from-file"
id = "laptop"
pool = 0

[[tunnels]]
name = "web"
local = "127.0.0.1:8080"
public_port = 6000

[[tunnels]]
name = "ssh"
local = "127.0.0.1:22"
public_port = 6022
`)
	web := relay.TunnelConfig{Name: "web", Local: "127.0.0.1:8080", PublicPort: 6000}
	ssh := relay.TunnelConfig{Name: "ssh", Local: "127.0.0.1:22", PublicPort: 6022}
	db := relay.TunnelConfig{Name: "db", Local: "[::1]:5432", PublicPort: 0}
	for _, tc := range []struct {
		name     string
		args     []string
		pool     int
		tunnels  []relay.TunnelConfig
		reconMin time.Duration
	}{
		{name: "defaults", args: []string{"--server", "h:1", "--token", "t", "--tunnel", "db=[::1]:5432:0"},
			pool: relay.DefaultPool, tunnels: []relay.TunnelConfig{db}, reconMin: relay.DefaultReconnectMin},
		{name: "file keeps pool 0", args: []string{"-c", path},
			pool: 0, tunnels: []relay.TunnelConfig{web, ssh}, reconMin: relay.DefaultReconnectMin},
		{name: "flag tunnels replace the file's", args: []string{"-c", path, "--tunnel", "db=[::1]:5432:0", "--tunnel", "web=127.0.0.1:8080:6000", "--reconnect-min", "1s"},
			pool: 0, tunnels: []relay.TunnelConfig{db, web}, reconMin: time.Second},
		{name: "flag pool over file", args: []string{"-c", path, "--pool", "4"},
			pool: 4, tunnels: []relay.TunnelConfig{web, ssh}, reconMin: relay.DefaultReconnectMin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClient(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pool != tc.pool {
				t.Errorf("pool = %d, want %d", got.Pool, tc.pool)
			}
			if !reflect.DeepEqual(got.Tunnels, tc.tunnels) {
				t.Errorf("tunnels = %+v, want %+v", got.Tunnels, tc.tunnels)
			}
			if got.ReconnectMin != tc.reconMin {
				t.Errorf("reconnect_min = %v, want %v", got.ReconnectMin, tc.reconMin)
			}
		})
	}
}

// TestConfigErrorsNameTheKey: a config error names the setting as the user
// gave it: a flag with its value, the -c file with its key, FERRY_TOKEN, or
// for a required one nobody gave, every way to give it. Other keys the
// message names are spelled the same way, and the library's prefix does not
// reach the user. FILE stands for the -c file's path.
func TestConfigErrorsNameTheKey(t *testing.T) {
	const tok = "0123456789abcdef0123"
	missing := filepath.Join(t.TempDir(), "no-such-token")
	for _, tc := range []struct {
		name   string
		client bool
		toml   string
		args   []string
		env    string // FERRY_TOKEN
		want   string // the whole error, or its start when it ends in "…"
	}{
		{name: "unknown key", toml: "token = \"" + tok + "\"\nhearbeat_interval = \"1s\"\n",
			want: `FILE: unknown key "hearbeat_interval"`},
		{name: "bad value in file", toml: "token = \"" + tok + "\"\nallow_ports = \"7-x\"\n",
			want: `FILE: allow_ports: "7-x" is not a port or range of ports 1-65535`},
		{name: "flag breaks file", toml: "token = \"" + tok + "\"\nheartbeat_timeout = \"5s\"\n", args: []string{"--heartbeat-interval", "6s"},
			want: `FILE: heartbeat_timeout: 5s must exceed --heartbeat-interval 6s`},
		{name: "flag breaks default", args: []string{"--token", tok, "--heartbeat-interval", "40s"},
			want: `--heartbeat-timeout: 30s must exceed --heartbeat-interval 40s`},
		{name: "bare duration", toml: "token = \"" + tok + "\"\ndata_timeout = 10\n",
			want: `FILE: data_timeout: 10 is a bare number; a duration needs a unit, as a string: data_timeout = "10s"`},
		{name: "switch", args: []string{"--token", tok, "--tls-data"},
			want: `--tls-data: needs TLS on: set --tls, or --tls-cert and --tls-key`},
		{name: "switch in file", toml: "token = \"" + tok + "\"\ntls_data = true\n",
			want: `FILE: tls_data: needs TLS on: set tls, or tls_cert and tls_key`},
		{name: "public_bind", args: []string{"--token", tok, "--public-bind", "999.1.1.1"},
			want: `--public-bind: "999.1.1.1" is not an IP address or a DNS name: …`},
		{name: "public_host", args: []string{"--token", tok, "--public-host", "bad_host!"},
			want: `--public-host: "bad_host!" is not an IP address or a DNS name: …`},
		{name: "no token", want: `token: must be set (the shared secret clients present), or [[clients]] listed with their own; ` +
			`give it with --token, --token-file, FERRY_TOKEN, or token or token_file in the -c file`},
		{name: "placeholder flag", args: []string{"--token", "change-me-to-a-long-random-string"},
			want: `--token: the token is the placeholder from docs/examples, …`},
		{name: "placeholder in file", toml: "[[clients]]\nid = \"a\"\ntoken = \"another-long-random-string\"\n",
			want: `FILE: token in [[clients]] #1: the token is the placeholder from docs/examples, …`},
		{name: "placeholder env", env: "change-me-to-a-long-random-string",
			want: `FERRY_TOKEN: the token is the placeholder from docs/examples, …`},
		{name: "token file missing", args: []string{"--token-file", missing},
			want: `--token-file "` + missing + `": cannot read the token: open ` + missing + `: no such file or directory`},
		{name: "token twice", args: []string{"--token", tok, "--token-file", missing},
			want: `--token and --token-file are both given; give one`},
		{name: "token twice in file", toml: "token = \"" + tok + "\"\ntoken_file = \"" + missing + "\"\n",
			want: `FILE: token_file: token and token_file are both set; give one`},
		{name: "duplicate client", toml: "[[clients]]\nid = \"a\"\ntoken = \"" + tok + "\"\n[[clients]]\nid = \"a\"\ntoken = \"" + tok + "\"\n",
			want: `FILE: id in [[clients]] #2: "a" is listed twice`},

		{name: "tunnel port", client: true, args: []string{"--server", "h:1", "--token", tok, "--tunnel", "web=127.0.0.1:99999:0"},
			want: `--tunnel "web=127.0.0.1:99999:0": local port 99999 is not 1-65535`},
		{name: "tunnel without port", client: true, args: []string{"--server", "h:1", "--token", tok, "--tunnel", "web=127.0.0.1::6000"},
			want: `--tunnel "web=127.0.0.1::6000": local address "127.0.0.1:" has no port`},
		{name: "second tunnel host", client: true, args: []string{"--server", "h:1", "--token", tok, "--tunnel", "web=127.0.0.1:80:0", "--tunnel", "db=bad_host!:5432:0"},
			want: `--tunnel "db=bad_host!:5432:0": local host "bad_host!" is not an IP address or a DNS name: …`},
		{name: "tunnel twice", client: true, args: []string{"--server", "h:1", "--token", tok, "--tunnel", "web=127.0.0.1:1:0", "--tunnel", "web=127.0.0.1:2:0"},
			want: `--tunnel "web=127.0.0.1:2:0": "web" appears twice`},
		{name: "tunnel in file", client: true, toml: "server = \"h:1\"\ntoken = \"" + tok + "\"\n[[tunnels]]\nname = \"web\"\nlocal = \"127.0.0.1:0\"\n",
			want: `FILE: local in [[tunnels]] #1: local port 0 is not 1-65535`},
		{name: "no tunnels", client: true, args: []string{"--server", "h:1", "--token", tok},
			want: `tunnels: at least one is needed; give one with --tunnel NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT (repeatable), or [[tunnels]] in the -c file`},
		{name: "no server", client: true, args: []string{"--token", tok, "--tunnel", "web=127.0.0.1:80:0"},
			want: `server: must be set (the ferry server's host:port); give it with --server, or server in the -c file`},
		{name: "no client token", client: true, args: []string{"--server", "h:1", "--tunnel", "web=127.0.0.1:80:0"},
			want: `token: must be set (the server's shared secret); give it with --token, --token-file, FERRY_TOKEN, or token or token_file in the -c file`},
		{name: "bare duration in client file", client: true, toml: "dial_timeout = 5\n",
			want: `FILE: dial_timeout: 5 is a bare number; a duration needs a unit, as a string: dial_timeout = "5s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tc.env)
			args, path := tc.args, ""
			if tc.toml != "" {
				path = writeFile(t, tc.toml)
				args = append([]string{"-c", path}, args...)
			}
			var err error
			if tc.client {
				_, err = parseClient(args, io.Discard)
			} else {
				_, err = parseServer(append([]string{"--listen", "127.0.0.1:0"}, args...), io.Discard)
			}
			if !isConfigError(err) {
				t.Fatalf("err = %v, want a config error", err)
			}
			want := strings.ReplaceAll(tc.want, "FILE", path)
			got := err.Error()
			if prefix, cut := strings.CutSuffix(want, "…"); cut {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("got  %s\nwant %s…", got, prefix)
				}
			} else if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if strings.Contains(got, "relay:") || strings.Contains(got, tok) {
				t.Errorf("the library's prefix or the token reached the user: %s", got)
			}
		})
	}
}

// TestTokenLayers: the token comes from --token or --token-file, else
// FERRY_TOKEN, else the file's token or token_file; a layer replaces the
// ones below it whole, so a flag's token is not also a file's token_file.
func TestTokenLayers(t *testing.T) {
	dir := t.TempDir()
	tokenFile := func(name, token string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		inFile   = "token-in-the-config-file"
		inFFile  = "token-in-the-files-token-file"
		inEnv    = "token-in-the-environment"
		inFlag   = "token-in-the-token-flag"
		inFlagFF = "token-in-the-flags-token-file"
	)
	fileToken := "token = \"" + inFile + "\"\n"
	fileTokenFile := "token_file = \"" + tokenFile("f", inFFile) + "\"\n"
	flagFile := tokenFile("g", inFlagFF)
	for _, tc := range []struct {
		name string
		toml string
		env  string
		args []string
		want string
	}{
		{name: "file", toml: fileToken, want: inFile},
		{name: "file's token file", toml: fileTokenFile, want: inFFile},
		{name: "env over file", toml: fileToken, env: inEnv, want: inEnv},
		{name: "env over file's token file", toml: fileTokenFile, env: inEnv, want: inEnv},
		{name: "flag over env and file", toml: fileTokenFile, env: inEnv, args: []string{"--token", inFlag}, want: inFlag},
		{name: "flag token file over env and file", toml: fileToken, env: inEnv, args: []string{"--token-file", flagFile}, want: inFlagFF},
		{name: "env alone", env: inEnv, want: inEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tc.env)
			toml := "server = \"h:1\"\n" + tc.toml + "[[tunnels]]\nname = \"web\"\nlocal = \"127.0.0.1:80\"\n"
			cfg, err := parseClient(append([]string{"-c", writeFile(t, toml)}, tc.args...), io.Discard)
			if err != nil || cfg.Token != tc.want {
				t.Errorf("client: token %q, err %v; want %q", cfg.Token, err, tc.want)
			}
			scfg, err := parseServer(append([]string{"--listen", "127.0.0.1:0", "-c", writeFile(t, tc.toml)}, tc.args...), io.Discard)
			if err != nil || scfg.Token != tc.want {
				t.Errorf("server: token %q, err %v; want %q", scfg.Token, err, tc.want)
			}
		})
	}
}

// TestBandwidthFlag: --bandwidth is the "*" rule, replacing one a file set,
// and a rate that does not parse is a usage error naming it.
func TestBandwidthFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.toml")
	os.WriteFile(path, []byte("token = \"t\"\n[[bandwidth]]\ntunnel = \"*\"\nrate = \"1MB\"\n[[bandwidth]]\ntunnel = \"web\"\nrate = \"2MB\"\n"), 0o600)
	cfg, err := parseServer([]string{"-c", path, "--bandwidth", "10MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []relay.BandwidthRule{{Tunnel: "web", Rate: "2MB"}, {Tunnel: "*", Rate: "10MiB"}}
	if !reflect.DeepEqual(cfg.Bandwidth, want) {
		t.Errorf("got %+v, want %+v", cfg.Bandwidth, want)
	}
	if _, err := parseServer([]string{"--token", "t", "--bandwidth", "fast"}, io.Discard); !isConfigError(err) || !strings.Contains(err.Error(), `"fast" is not a rate`) {
		t.Errorf("--bandwidth fast: got %v, want a usage error saying why", err)
	}
}
