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

// The examples in docs/ must load and validate as they are.
func TestDocExamplesLoad(t *testing.T) {
	var srv relay.ServerConfig
	if err := relay.LoadTOML("../../docs/examples/server.toml", &srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Validate(); err != nil {
		t.Fatalf("server.toml: %v", err)
	}
	var cl relay.ClientConfig
	if err := relay.LoadTOML("../../docs/examples/client.toml", &cl); err != nil {
		t.Fatal(err)
	}
	if err := cl.Validate(); err != nil {
		t.Fatalf("client.toml: %v", err)
	}
	// And through the command line, which starts from the flag defaults.
	if _, err := parseServer([]string{"-c", "../../docs/examples/server.toml"}, io.Discard); err != nil {
		t.Errorf("ferry server -c server.toml: %v", err)
	}
	if _, err := parseClient([]string{"-c", "../../docs/examples/client.toml"}, io.Discard); err != nil {
		t.Errorf("ferry client -c client.toml: %v", err)
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

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		args []string
		key  string
	}{
		{name: "unknown key", toml: "token = \"t\"\nhearbeat_interval = \"1s\"\n", key: "hearbeat_interval"},
		{name: "bad value", toml: "token = \"t\"\nallow_ports = \"7-x\"\n", key: "allow_ports"},
		{name: "flag breaks file", toml: "token = \"t\"\nheartbeat_timeout = \"5s\"\n", args: []string{"--heartbeat-interval", "6s"}, key: "heartbeat_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-c", writeFile(t, tc.toml)}, tc.args...)
			_, err := parseServer(args, io.Discard)
			if !isConfigError(err) {
				t.Fatalf("err = %v, want a config error", err)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
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
