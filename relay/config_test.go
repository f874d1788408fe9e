package relay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTunnel(t *testing.T) {
	for _, c := range []struct {
		in   string
		want TunnelConfig
		bad  bool
	}{
		{in: "web=127.0.0.1:8080:6000", want: TunnelConfig{Name: "web", Local: "127.0.0.1:8080", PublicPort: 6000}},
		{in: "db=[::1]:5432:0", want: TunnelConfig{Name: "db", Local: "[::1]:5432"}},
		{in: "ssh=localhost:22:2222", want: TunnelConfig{Name: "ssh", Local: "localhost:22", PublicPort: 2222}},
		{in: "web=127.0.0.1:8080", bad: true},   // no public port
		{in: "127.0.0.1:8080:6000", bad: true},  // no name
		{in: "=127.0.0.1:8080:6000", bad: true}, // empty name
		{in: "web=127.0.0.1:8080:70000", bad: true},
		{in: "web=::1:5432:0", bad: true}, // IPv6 without brackets
	} {
		got, err := ParseTunnel(c.in)
		if c.bad {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%q: err = %v, want ErrConfig", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// TestValidateNamesTheKey: every config error says which key is wrong.
func TestValidateNamesTheKey(t *testing.T) {
	okClient := func() ClientConfig {
		return ClientConfig{Server: "h:1", Token: "t", ID: "me", Tunnels: []TunnelConfig{{Name: "a", Local: "h:2"}}}
	}
	for _, c := range []struct {
		key string
		cfg ClientConfig
		mod func(*ClientConfig)
	}{
		{"server", okClient(), func(c *ClientConfig) { c.Server = "" }},
		{"server", okClient(), func(c *ClientConfig) { c.Server = "nohostport" }},
		{"token", okClient(), func(c *ClientConfig) { c.Token = "" }},
		{"id", okClient(), func(c *ClientConfig) { c.ID = "has space" }},
		{"tunnels", okClient(), func(c *ClientConfig) { c.Tunnels = nil }},
		{"tunnels[1].name", okClient(), func(c *ClientConfig) { c.Tunnels = append(c.Tunnels, c.Tunnels[0]) }},
		{"tunnels[0].local", okClient(), func(c *ClientConfig) { c.Tunnels[0].Local = "x" }},
		{"tunnels[0].local", okClient(), func(c *ClientConfig) { c.Tunnels[0].Local = "127.0.0.1:99999" }},
		{"tunnels[0].local", okClient(), func(c *ClientConfig) { c.Tunnels[0].Local = "bad_host!:80" }},
		{"tunnels[0].public_port", okClient(), func(c *ClientConfig) { c.Tunnels[0].PublicPort = -1 }},
		{"pool", okClient(), func(c *ClientConfig) { c.Pool = MaxPool + 1 }},
		{"heartbeat_timeout", okClient(), func(c *ClientConfig) { c.HeartbeatInterval, c.HeartbeatTimeout = time.Second, time.Second }},
		{"reconnect_max", okClient(), func(c *ClientConfig) { c.ReconnectMin, c.ReconnectMax = time.Second, time.Millisecond }},
		{"dial_timeout", okClient(), func(c *ClientConfig) { c.DialTimeout = -1 }},
	} {
		c.mod(&c.cfg)
		err := c.cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("client %s: got %v", c.key, err)
		}
	}
	for _, c := range []struct {
		key string
		cfg ServerConfig
	}{
		{"token", ServerConfig{}},
		{"listen", ServerConfig{Token: "t", Listen: "7000"}},
		{"allow_ports", ServerConfig{Token: "t", AllowPorts: "6000-5000"}},
		{"allow_ports", ServerConfig{Token: "t", AllowPorts: "http"}},
		{"data_timeout", ServerConfig{Token: "t", DataTimeout: -time.Second}},
		{"clients[0].id", ServerConfig{Clients: []ClientToken{{ID: "has space", Token: "x"}}}},
		{"clients[0].token", ServerConfig{Clients: []ClientToken{{ID: "a"}}}},
		{"clients[1].id", ServerConfig{Clients: []ClientToken{{ID: "a", Token: "x"}, {ID: "a", Token: "y"}}}},
		{"auth_failures", ServerConfig{Token: "t", AuthFailures: -1}},
		{"max_conns", ServerConfig{Token: "t", MaxConns: -1}},
		{"max_clients", ServerConfig{Token: "t", MaxClients: -1}},
		{"max_handshakes_per_addr", ServerConfig{Token: "t", MaxHandshakesPerAddr: -1}},
		{"max_handshakes", ServerConfig{Token: "t", MaxHandshakes: -1}},
		{"access[0].allow[1]", ServerConfig{Token: "t", Access: []AccessRule{{Tunnel: "web", Allow: []string{"10.0.0.0/8", "10.0.0.0/33"}}}}},
		{"access[0].deny[0]", ServerConfig{Token: "t", Access: []AccessRule{{Tunnel: "*", Deny: []string{"example.com"}}}}},
		{"access[0].tunnel", ServerConfig{Token: "t", Access: []AccessRule{{Tunnel: "has space"}}}},
		{"access[1].tunnel", ServerConfig{Token: "t", Access: []AccessRule{{Tunnel: "web"}, {Tunnel: "web"}}}},
		{"max_tunnels_per_client", ServerConfig{Token: "t", MaxTunnelsPerClient: MaxTunnels + 1}},
		{"max_conns_per_tunnel", ServerConfig{Token: "t", MaxConnsPerTunnel: -1}},
		{"auth_failure_period", ServerConfig{Token: "t", AuthFailurePeriod: -time.Second}},
		{"public_bind", ServerConfig{Token: "t", PublicBind: "999.1.1.1"}},
		{"public_host", ServerConfig{Token: "t", PublicHost: "bad_host!"}},
	} {
		err := c.cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("server %s: got %v", c.key, err)
		}
	}
}

func TestValidateDefaults(t *testing.T) {
	s := ServerConfig{Token: "t", Listen: "127.0.0.1:7000"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.PublicBind != "127.0.0.1" || s.Engine != DefaultEngine || s.HeartbeatTimeout != DefaultHeartbeatTimeout || s.IdleTimeout != 0 ||
		s.AuthFailures != DefaultAuthFailures || s.MaxConns != max(1, (fdLimit()-256)/fdsPerConn) || s.MaxConnsPerTunnel != 0 {
		t.Errorf("defaults not applied: %+v", s)
	}
	c := ClientConfig{Server: "h:1", Token: "t", Tunnels: []TunnelConfig{{Name: "a", Local: "h:2"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Pool != 0 || c.DialTimeout != DefaultDialTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestPortSet(t *testing.T) {
	ps, err := parsePortSet("6000-6010, 8080")
	if err != nil {
		t.Fatal(err)
	}
	for port, want := range map[int]bool{5999: false, 6000: true, 6010: true, 6011: false, 8080: true} {
		if ps.allows(port) != want {
			t.Errorf("allows(%d) = %v", port, !want)
		}
	}
	if !portSet(nil).allows(1) {
		t.Error("empty set must allow every port")
	}
}

func TestLoadTOML(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := ClientConfig{Pool: DefaultPool}
	err := LoadTOML(write(`server = "h:7000"
token = "t"
heartbeat_interval = "2s"
[[tunnels]]
name = "web"
local = "127.0.0.1:8080"
public_port = 6000
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pool != DefaultPool || cfg.HeartbeatInterval != 2*time.Second || len(cfg.Tunnels) != 1 || cfg.Tunnels[0].PublicPort != 6000 {
		t.Errorf("decoded %+v", cfg)
	}
	for _, c := range []struct{ in, want string }{
		{"tokne = \"x\"\n", `unknown key "tokne"`},
		{"[[tunnels]]\nname = \"a\"\nlocl = \"x\"\n", `unknown key "tunnels.locl"`},
		{"heartbeat_interval = \"soon\"\n", "heartbeat_interval"},
		{"pool = \"two\"\n", "pool"},
	} {
		err := LoadTOML(write(c.in), &ClientConfig{})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want mention of %s", c.in, err, c.want)
		}
	}
}

func TestLoadTOMLClients(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.toml")
	if err := os.WriteFile(p, []byte(`auth_failures = 3
auth_failure_period = "1m"
[[clients]]
id = "alice"
token = "alice-own"
[[clients]]
id = "bob"
token = "bob-own"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg ServerConfig
	if err := LoadTOML(p, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("clients without a shared token: %v", err)
	}
	if tok, ok := cfg.tokenFor("bob"); !ok || tok != "bob-own" {
		t.Errorf("bob's token %q, %v", tok, ok)
	}
	if _, ok := cfg.tokenFor("carol"); ok {
		t.Error("an unlisted id has a token with no shared token set")
	}
	if cfg.AuthFailures != 3 || cfg.AuthFailurePeriod != time.Minute {
		t.Errorf("auth_failures %d, auth_failure_period %v", cfg.AuthFailures, cfg.AuthFailurePeriod)
	}
}

// TestConfigError: a config error is an ErrConfig that reads as before, and
// a front end can spell the other keys its message names its own way.
func TestConfigError(t *testing.T) {
	err := (&ServerConfig{Token: "t", TLSData: true}).Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want a *ConfigError that is ErrConfig", err)
	}
	if want := "relay: invalid config: tls_data: needs TLS on: set tls, or tls_cert and tls_key"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	flag := func(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }
	if got, want := ce.Message(flag), "needs TLS on: set --tls, or --tls-cert and --tls-key"; got != want {
		t.Errorf("Message(flag) = %q, want %q", got, want)
	}
	err = (&ClientConfig{}).Validate()
	if !errors.As(err, &ce) || !ce.Unset || ce.Key != "server" {
		t.Errorf("no server: %v, want an Unset error about server", err)
	}
}
