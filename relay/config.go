package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults applied by Validate to zero fields, and used as flag defaults.
const (
	DefaultListen            = "0.0.0.0:7000"
	DefaultPool              = 2
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultHeartbeatTimeout  = 30 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultDataTimeout       = 10 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultReconnectMin      = 500 * time.Millisecond
	DefaultReconnectMax      = 30 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultAuthFailures      = 5
	DefaultAuthFailurePeriod = 10 * time.Second
	DefaultMaxHandshakes     = 256
)

// ServerConfig configures a Server. Every zero field means the documented
// default; Token, or Clients, must be set.
type ServerConfig struct {
	// Listen is the server port's address, carrying control and data
	// connections. Zero means DefaultListen.
	Listen string `toml:"listen"`
	// Token is the shared secret clients prove they know. It never crosses
	// the wire. Required unless Clients is set; then it admits only the
	// client ids Clients does not list.
	Token string `toml:"token"`
	// TokenFile names a file holding Token instead (trailing white space
	// trimmed), so the secret stays out of the config and of ps. Validate
	// reads it into Token and clears it; setting both is an error.
	TokenFile string `toml:"token_file"`
	// Clients gives clients tokens of their own, by stable client id (TOML
	// [[clients]] with id and token). A listed id must present its own
	// token, never the shared one, so one leaked token is revoked by
	// changing its entry alone and a leaked shared token opens no listed
	// id.
	Clients []ClientToken `toml:"clients"`
	// AuthFailures is how many failed authentications one source address
	// may make in a burst; after that its control connections are closed
	// unread until it earns another try, one per AuthFailurePeriod. Zero
	// means DefaultAuthFailures and DefaultAuthFailurePeriod.
	AuthFailures      int           `toml:"auth_failures"`
	AuthFailurePeriod time.Duration `toml:"auth_failure_period"`
	// MaxConns bounds the public connections open at once, across all
	// tunnels; one more is reset at once and counted (conns_limited),
	// never queued. Zero means as many as the process's file descriptor
	// limit allows at six per connection, with 256 kept for everything
	// else, so the server refuses cleanly before accept would fail: a
	// public and a data socket, and with gocopy the two pipes the runtime
	// splices each direction through (the reactors need two in all).
	MaxConns int `toml:"max_conns"`
	// MaxClients bounds the sessions (distinct client ids) the server
	// holds at once; one more authenticates, is told CodeFull and retries
	// later, and a client replacing its own session always gets in. Zero
	// means no bound: every session needs a token, and max_conns bounds
	// what they can open.
	MaxClients int `toml:"max_clients"`
	// MaxTunnelsPerClient bounds each session's tunnels. Zero means
	// MaxTunnels, which is also the most it may be.
	MaxTunnelsPerClient int `toml:"max_tunnels_per_client"`
	// MaxHandshakesPerAddr bounds the connections one source address may
	// have on the server port before they authenticate (control) or their
	// header is read (data); more are closed at once and counted
	// (handshakes_limited). Each holds an fd and a goroutine until
	// HandshakeTimeout, so this is what stops one address from holding
	// the server's descriptors with silent or trickling connections. A
	// client's own data connections count while their header is read,
	// which takes a moment; the default leaves room for bursts of them.
	// Zero means DefaultMaxHandshakes.
	MaxHandshakesPerAddr int `toml:"max_handshakes_per_addr"`
	// MaxHandshakes bounds the connections in their handshake from all
	// addresses together, so a flood from many addresses cannot take the
	// descriptors that sessions and relays need. Zero means a quarter of
	// the process's file descriptor limit.
	MaxHandshakes int `toml:"max_handshakes"`
	// Access limits who may connect to public ports, by source address,
	// per tunnel name (TOML [[access]] with tunnel, allow and deny, each a
	// list of CIDR prefixes or single addresses). Tunnel "*" is the rule
	// for every tunnel without one of its own. Deny wins over allow; a
	// non-empty allow admits only what it lists. A refused connection is
	// reset right after accept, before any byte is forwarded, and counted
	// (conns_denied). Zero means everyone may connect.
	Access []AccessRule `toml:"access"`
	// Bandwidth caps tunnels' throughput (TOML [[bandwidth]] with tunnel
	// and rate, "*" for every tunnel without its own): each direction of a
	// tunnel, all its connections together, through a token bucket with a
	// burst of a tenth of a second. Pacing happens in user space, so only
	// engines that relay Streams honour it: with one named explicitly that
	// cannot, the server refuses to start; the default engine can. Zero
	// means no cap.
	Bandwidth []BandwidthRule `toml:"bandwidth"`
	// MaxConnsPerTunnel bounds each tunnel's public connections, so one
	// busy or attacked tunnel cannot take the whole of MaxConns. Zero
	// means no bound but MaxConns.
	MaxConnsPerTunnel int `toml:"max_conns_per_tunnel"`
	// Engine names the relay engine for public↔data pairs. Zero means
	// DefaultEngine.
	Engine string `toml:"engine"`
	// TLS puts TLS 1.3 on the server port: control connections must use
	// it (a plain one is told CodeTLSRequired), data connections may
	// unless TLSData. The certificate comes from TLSCert and TLSKey, or,
	// without them, is a self-signed one made on first start and kept in
	// StateDir; either way its SHA-256 fingerprint is logged, for clients
	// to pin. Setting TLSCert turns TLS on.
	TLS     bool   `toml:"tls"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// StateDir holds the self-signed certificate. Zero means
	// DefaultStateDir().
	StateDir string `toml:"state_dir"`
	// TLSData makes every data connection use TLS too, so relayed bytes
	// are encrypted between server and client. Engines that splice or
	// read raw sockets cannot relay TLS: with one named explicitly the
	// server refuses to start; the default engine relays it. Needs TLS.
	TLSData bool `toml:"tls_data"`
	// ClientCA, a PEM file of CA certificates, makes the server require a
	// client certificate signed by one of them on every TLS connection
	// (mutual TLS), in addition to the token; with TLSData that is every
	// connection. Needs TLS.
	ClientCA string `toml:"client_ca"`
	// PublicBind is the host public listeners bind to: an IP address or a
	// DNS name. Zero means Listen's host. NewServer binds it once to check
	// that it is an address of this host.
	PublicBind string `toml:"public_bind"`
	// PublicHost is the host clients are told their public ports are
	// reached by (an IP address or DNS name), sent with the port in
	// Registered and logged, for when PublicBind is no address anyone can
	// use (0.0.0.0) or not the one the world sees (behind NAT). Zero means
	// the bound address.
	PublicHost string `toml:"public_host"`
	// AllowPorts limits the public ports clients may ask for, as a list of
	// ports and ranges ("6000-6100,8080"). Zero allows any port; a request
	// for port 0 then gets a port the kernel picks, or one from the list.
	AllowPorts string `toml:"allow_ports"`
	// HeartbeatInterval is how often the server sends a heartbeat on each
	// control connection. Zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration `toml:"heartbeat_interval"`
	// HeartbeatTimeout is how long a control connection may stay silent
	// before its session is declared dead and freed. Zero means
	// DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration `toml:"heartbeat_timeout"`
	// HandshakeTimeout bounds every read before a connection is
	// authenticated. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
	// DataTimeout is how long a public connection waits for a data
	// connection when none is pooled, before it is closed and counted.
	// Zero means DefaultDataTimeout.
	DataTimeout time.Duration `toml:"data_timeout"`
	// IdleTimeout ends a relayed connection after no byte moved either way
	// for this long. Zero means never.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long Shutdown lets live relays finish when the
	// caller gives no deadline of its own (the ferry binary on SIGTERM).
	// Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`

	// Logger receives the server's log. Nil discards.
	Logger *slog.Logger `toml:"-"`

	engineNamed bool // Engine was set, not defaulted
	allowed     portSet
	tokens      map[string]string // Clients by id
	access      map[string]accessList
	bandwidth   map[string]float64 // Bandwidth by tunnel, bytes per second

	tokenFile *looseFile // a TokenFile others can read, logged by NewServer
}

// paceFor returns the buckets for a new tunnel: its own rule's, else
// "*"'s, or nil for no cap.
func (c *ServerConfig) paceFor(name string) *pace {
	r, ok := c.bandwidth[name]
	if !ok {
		r, ok = c.bandwidth["*"]
	}
	if !ok {
		return nil
	}
	return newPace(r)
}

// An AccessRule is one tunnel's source address lists.
type AccessRule struct {
	Tunnel string   `toml:"tunnel"`
	Allow  []string `toml:"allow"`
	Deny   []string `toml:"deny"`
}

// An accessList is an AccessRule parsed.
type accessList struct{ allow, deny []netip.Prefix }

// admits says whether a connection from addr may reach the tunnel.
func (a accessList) admits(addr netip.Addr) bool {
	for _, p := range a.deny {
		if p.Contains(addr) {
			return false
		}
	}
	if len(a.allow) == 0 {
		return true
	}
	for _, p := range a.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// accessFor returns the lists for tunnel name: its own, else "*"'s.
func (c *ServerConfig) accessFor(name string) (accessList, bool) {
	if a, ok := c.access[name]; ok {
		return a, true
	}
	a, ok := c.access["*"]
	return a, ok
}

// parsePrefixes reads CIDR prefixes or single addresses (a /32 or /128).
func parsePrefixes(key string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, configErr(fmt.Sprintf("%s[%d]", key, i), "%q is neither a CIDR prefix nor an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// fdsPerConn is what one relayed public connection may hold open on the
// server with the hungriest engine: two sockets and two splice pipes.
const fdsPerConn = 6

// A ClientToken is one client's own token.
type ClientToken struct {
	ID    string `toml:"id"`
	Token string `toml:"token"`
}

// tokenFor returns the token client id must prove it knows: its own if
// Clients lists it, else the shared one if set.
func (c *ServerConfig) tokenFor(id string) (string, bool) {
	if t, ok := c.tokens[id]; ok {
		return t, true
	}
	return c.Token, c.Token != ""
}

// ClientConfig configures a Client. Server, Token and at least one tunnel
// must be set; every other zero field means the documented default.
type ClientConfig struct {
	// Server is the ferry server's address (its Listen). Required.
	Server string `toml:"server"`
	// Token is the shared secret. Required, here or in TokenFile.
	Token string `toml:"token"`
	// TokenFile as in ServerConfig.
	TokenFile string `toml:"token_file"`
	// ID is the client's stable identity, one per client: a new session
	// with the same ID takes over a dead session's tunnels at once, and is
	// refused (ErrIDInUse) while that session answers. Zero means the host
	// name.
	ID string `toml:"id"`
	// Tunnels are the local services to expose. At least one.
	Tunnels []TunnelConfig `toml:"tunnels"`
	// Pool is the number of idle data connections kept per tunnel, so a
	// public connection need not wait for a dial. Zero disables pooling;
	// the ferry binary's default is DefaultPool.
	Pool int `toml:"pool"`
	// Engine names the relay engine for data↔local pairs. Zero means
	// DefaultEngine.
	Engine string `toml:"engine"`
	// TLS connects to the server over TLS 1.3, verifying its certificate
	// against CA, or the system's roots without one, under ServerName.
	// ServerFingerprint instead pins the certificate by its SHA-256 (64 hex
	// digits, as the server logs it; colons allowed), which is how a
	// self-signed server certificate is trusted. Setting CA,
	// ServerFingerprint, ServerName or TLSCert turns TLS on. Whether data
	// connections use TLS is the server's setting, announced at
	// authentication.
	TLS               bool   `toml:"tls"`
	CA                string `toml:"ca"`
	ServerFingerprint string `toml:"server_fingerprint"`
	// ServerName is the name the server's certificate must carry. Zero
	// means Server's host.
	ServerName string `toml:"server_name"`
	// TLSCert and TLSKey are the client's certificate for a server that
	// requires one (mutual TLS).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// HeartbeatInterval and HeartbeatTimeout as in ServerConfig, for the
	// client's side of the control connection.
	HeartbeatInterval time.Duration `toml:"heartbeat_interval"`
	HeartbeatTimeout  time.Duration `toml:"heartbeat_timeout"`
	// DialTimeout bounds dials to the server and to local services, and the
	// handshake. Zero means DefaultDialTimeout.
	DialTimeout time.Duration `toml:"dial_timeout"`
	// ReconnectMin and ReconnectMax bound the exponential backoff (with
	// jitter) between attempts to reach the server, and between retries of
	// a refused tunnel. Zero means DefaultReconnectMin / DefaultReconnectMax.
	ReconnectMin time.Duration `toml:"reconnect_min"`
	ReconnectMax time.Duration `toml:"reconnect_max"`
	// IdleTimeout as in ServerConfig.
	IdleTimeout time.Duration `toml:"idle_timeout"`

	// Logger receives the client's log. Nil discards.
	Logger *slog.Logger `toml:"-"`

	engineNamed bool // Engine was set, not defaulted

	tokenFile *looseFile // a TokenFile others can read, logged by NewClient
}

// TunnelConfig is one exposed local service.
type TunnelConfig struct {
	// Name identifies the tunnel on the server; unique per server.
	Name string `toml:"name"`
	// Local is the local service's host:port, dialled per public
	// connection: an IP address (IPv6 in brackets) or a DNS name, resolved
	// at each dial, and a port 1-65535. An empty host is this host.
	Local string `toml:"local"`
	// PublicPort is the port the server opens; 0 lets the server choose.
	PublicPort int `toml:"public_port"`
}

// Limits on identifiers, so that every frame has a small fixed bound.
const (
	MaxNameLen = 64 // tunnel names and client ids, in bytes
	MaxTunnels = 64 // tunnels per client
	MaxPool    = 64 // idle data connections per tunnel
	// MaxWaiting bounds the public connections per tunnel accepted and
	// waiting for a data connection; at it, the tunnel stops accepting
	// until one is served, and the kernel's listen backlog holds the
	// rest. It also bounds the NeedData requests a client queues per
	// tunnel.
	MaxWaiting = 1024
)

// configErr is a *ConfigError about key. Other keys the message names go in
// args as keyRef, so that front ends can spell them their way.
func configErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, format: format, args: args}
}

// unsetErr is a *ConfigError about a required key nothing set.
func unsetErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Unset: true, format: format, args: args}
}

// Validate checks the config and fills zero fields with their defaults. The
// error names the offending key.
func (c *ServerConfig) Validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return configErr("listen", "%q is not host:port: %v", c.Listen, err)
	}
	if err := loadToken(&c.Token, &c.TokenFile, &c.tokenFile); err != nil {
		return err
	}
	if c.Token == "" && len(c.Clients) == 0 {
		return unsetErr("token", "must be set (the shared secret clients present), or [[clients]] listed with their own")
	}
	c.tokens = make(map[string]string, len(c.Clients))
	for i, ct := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if err := checkName(key+".id", ct.ID); err != nil {
			return err
		}
		if ct.Token == "" {
			return configErr(key+".token", "must be set (client %q's own secret)", ct.ID)
		}
		if err := checkPlaceholder(key+".token", ct.Token); err != nil {
			return err
		}
		if _, dup := c.tokens[ct.ID]; dup {
			return configErr(key+".id", "%q is listed twice", ct.ID)
		}
		c.tokens[ct.ID] = ct.Token
	}
	for _, d := range []struct {
		key  string
		v    *int
		def  int
		zero string // what 0 means, for the error
	}{
		{"auth_failures", &c.AuthFailures, DefaultAuthFailures, fmt.Sprintf("the default, %d", DefaultAuthFailures)},
		{"max_conns", &c.MaxConns, max(1, (fdLimit()-256)/fdsPerConn), "as many as the fd limit allows"},
		{"max_handshakes_per_addr", &c.MaxHandshakesPerAddr, DefaultMaxHandshakes, fmt.Sprintf("the default, %d", DefaultMaxHandshakes)},
		{"max_handshakes", &c.MaxHandshakes, max(64, fdLimit()/4), "a quarter of the fd limit"},
	} {
		if *d.v < 0 {
			return configErr(d.key, "%d: want 0 (%s) or more", *d.v, d.zero)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxClients < 0 {
		return configErr("max_clients", "%d: want 0 (no bound) or more", c.MaxClients)
	}
	if c.MaxTunnelsPerClient < 0 || c.MaxTunnelsPerClient > MaxTunnels {
		return configErr("max_tunnels_per_client", "%d: want 0 (the most, %d) to %d", c.MaxTunnelsPerClient, MaxTunnels, MaxTunnels)
	}
	if c.MaxTunnelsPerClient == 0 {
		c.MaxTunnelsPerClient = MaxTunnels
	}
	c.access = make(map[string]accessList, len(c.Access))
	for i, r := range c.Access {
		key := fmt.Sprintf("access[%d]", i)
		_, dup := c.access[r.Tunnel]
		if err := checkRuleTunnel(key, r.Tunnel, dup); err != nil {
			return err
		}
		var a accessList
		var err error
		if a.allow, err = parsePrefixes(key+".allow", r.Allow); err != nil {
			return err
		}
		if a.deny, err = parsePrefixes(key+".deny", r.Deny); err != nil {
			return err
		}
		c.access[r.Tunnel] = a
	}
	c.bandwidth = make(map[string]float64, len(c.Bandwidth))
	for i, r := range c.Bandwidth {
		key := fmt.Sprintf("bandwidth[%d]", i)
		_, dup := c.bandwidth[r.Tunnel]
		if err := checkRuleTunnel(key, r.Tunnel, dup); err != nil {
			return err
		}
		v, err := ParseRate(r.Rate)
		if err != nil {
			return configErr(key+".rate", "%v", err)
		}
		c.bandwidth[r.Tunnel] = v
	}
	if c.MaxConnsPerTunnel < 0 {
		return configErr("max_conns_per_tunnel", "%d: want 0 (no bound but %s) or more", c.MaxConnsPerTunnel, keyRef("max_conns"))
	}
	c.engineNamed = c.Engine != ""
	if c.Engine == "" {
		c.Engine = DefaultEngine
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return configErr("tls_key", "%s and %s go together (the certificate and its private key)", keyRef("tls_cert"), keyRef("tls_key"))
	}
	if c.TLSCert != "" {
		c.TLS = true
	}
	if c.TLSData && !c.TLS {
		return configErr("tls_data", "needs TLS on: set %s, or %s and %s", keyRef("tls"), keyRef("tls_cert"), keyRef("tls_key"))
	}
	if c.ClientCA != "" && !c.TLS {
		return configErr("client_ca", "needs TLS on: set %s, or %s and %s", keyRef("tls"), keyRef("tls_cert"), keyRef("tls_key"))
	}
	if c.PublicBind == "" {
		c.PublicBind = host
	} else if c.PublicBind, err = hostSetting("public_bind", c.PublicBind); err != nil {
		return err
	}
	if c.PublicHost != "" {
		if c.PublicHost, err = hostSetting("public_host", c.PublicHost); err != nil {
			return err
		}
	}
	if c.allowed, err = parsePortSet(c.AllowPorts); err != nil {
		return configErr("allow_ports", "%v", err)
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{
		{"heartbeat_interval", &c.HeartbeatInterval, DefaultHeartbeatInterval},
		{"heartbeat_timeout", &c.HeartbeatTimeout, DefaultHeartbeatTimeout},
		{"handshake_timeout", &c.HandshakeTimeout, DefaultHandshakeTimeout},
		{"data_timeout", &c.DataTimeout, DefaultDataTimeout},
		{"idle_timeout", &c.IdleTimeout, 0},
		{"shutdown_timeout", &c.ShutdownTimeout, DefaultShutdownTimeout},
		{"auth_failure_period", &c.AuthFailurePeriod, DefaultAuthFailurePeriod},
	} {
		if err := defaultDuration(d.key, d.v, d.def); err != nil {
			return err
		}
	}
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return configErr("heartbeat_timeout", "%v must exceed %s %v", c.HeartbeatTimeout, keyRef("heartbeat_interval"), c.HeartbeatInterval)
	}
	if c.Logger == nil {
		c.Logger = discardLogger
	}
	return nil
}

// Validate checks the config and fills zero fields with their defaults. The
// error names the offending key.
func (c *ClientConfig) Validate() error {
	if c.Server == "" {
		return unsetErr("server", "must be set (the ferry server's host:port)")
	}
	if _, _, err := net.SplitHostPort(c.Server); err != nil {
		return configErr("server", "%q is not host:port: %v", c.Server, err)
	}
	if err := loadToken(&c.Token, &c.TokenFile, &c.tokenFile); err != nil {
		return err
	}
	if c.Token == "" {
		return unsetErr("token", "must be set (the server's shared secret)")
	}
	if c.ID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return configErr("id", "not set and the host name is unknown (%v)", err)
		}
		c.ID = h
	}
	if err := checkName("id", c.ID); err != nil {
		return err
	}
	if len(c.Tunnels) == 0 {
		return unsetErr("tunnels", "at least one is needed")
	}
	if len(c.Tunnels) > MaxTunnels {
		return configErr("tunnels", "%d tunnels, at most %d", len(c.Tunnels), MaxTunnels)
	}
	seen := make(map[string]bool)
	for i, t := range c.Tunnels {
		key := fmt.Sprintf("tunnels[%d]", i)
		if err := checkName(key+".name", t.Name); err != nil {
			return err
		}
		if seen[t.Name] {
			return configErr(key+".name", "%q appears twice", t.Name)
		}
		seen[t.Name] = true
		if err := checkLocal(t.Local); err != nil {
			return configErr(key+".local", "%v", err)
		}
		if t.PublicPort < 0 || t.PublicPort > 65535 {
			return configErr(key+".public_port", "%d is not a port (0-65535)", t.PublicPort)
		}
	}
	if c.Pool < 0 || c.Pool > MaxPool {
		return configErr("pool", "%d outside 0-%d", c.Pool, MaxPool)
	}
	c.engineNamed = c.Engine != ""
	if c.Engine == "" {
		c.Engine = DefaultEngine
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return configErr("tls_key", "%s and %s go together (the certificate and its private key)", keyRef("tls_cert"), keyRef("tls_key"))
	}
	if c.ServerFingerprint != "" {
		fp, err := normalizeFingerprint(c.ServerFingerprint)
		if err != nil {
			return configErr("server_fingerprint", "%v", err)
		}
		c.ServerFingerprint = fp
	}
	if c.CA != "" || c.ServerFingerprint != "" || c.ServerName != "" || c.TLSCert != "" {
		c.TLS = true
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{
		{"heartbeat_interval", &c.HeartbeatInterval, DefaultHeartbeatInterval},
		{"heartbeat_timeout", &c.HeartbeatTimeout, DefaultHeartbeatTimeout},
		{"dial_timeout", &c.DialTimeout, DefaultDialTimeout},
		{"reconnect_min", &c.ReconnectMin, DefaultReconnectMin},
		{"reconnect_max", &c.ReconnectMax, DefaultReconnectMax},
		{"idle_timeout", &c.IdleTimeout, 0},
	} {
		if err := defaultDuration(d.key, d.v, d.def); err != nil {
			return err
		}
	}
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return configErr("heartbeat_timeout", "%v must exceed %s %v", c.HeartbeatTimeout, keyRef("heartbeat_interval"), c.HeartbeatInterval)
	}
	if c.ReconnectMax < c.ReconnectMin {
		return configErr("reconnect_max", "%v is below %s %v", c.ReconnectMax, keyRef("reconnect_min"), c.ReconnectMin)
	}
	if c.Logger == nil {
		c.Logger = discardLogger
	}
	return nil
}

var discardLogger = slog.New(slog.DiscardHandler)

func defaultDuration(key string, v *time.Duration, def time.Duration) error {
	if *v < 0 {
		return configErr(key, "%v is negative", *v)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}

// checkRuleTunnel checks the tunnel a per-tunnel rule ([[access]],
// [[bandwidth]]) names: a tunnel name or "*", and not one given a rule
// already (dup).
func checkRuleTunnel(key, tunnel string, dup bool) error {
	if tunnel != "*" {
		if err := checkName(key+".tunnel", tunnel); err != nil {
			return err
		}
	}
	if dup {
		return configErr(key+".tunnel", "%q has a rule already", tunnel)
	}
	return nil
}

func checkName(key, s string) error {
	if s == "" {
		return configErr(key, "must not be empty")
	}
	if len(s) > MaxNameLen {
		return configErr(key, "%q is longer than %d bytes", s, MaxNameLen)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return configErr(key, "%q contains a space or control character", s)
		}
	}
	return nil
}

// ParseTunnel parses the --tunnel flag's NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT
// form. IPv6 hosts go in brackets: db=[::1]:5432:0. It checks the form;
// Validate checks the values, as it does a config file's. Its errors leave
// out s, which the caller has.
func ParseTunnel(s string) (TunnelConfig, error) {
	const want = "want NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT"
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return TunnelConfig{}, configErr("tunnel", "%s", want)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return TunnelConfig{}, configErr("tunnel", "%s", want)
	}
	local, public := rest[:i], rest[i+1:]
	if _, _, err := net.SplitHostPort(local); err != nil {
		return TunnelConfig{}, configErr("tunnel", "local address %q: %v (%s; IPv6 in brackets)", local, err, want)
	}
	port, err := strconv.Atoi(public)
	if err != nil || port < 0 || port > 65535 {
		return TunnelConfig{}, configErr("tunnel", "public port %q is not 0-65535", public)
	}
	return TunnelConfig{Name: name, Local: local, PublicPort: port}, nil
}

// LoadTOML decodes the TOML file at path into cfg (a *ServerConfig or
// *ClientConfig), leaving fields the file does not mention as they were, so
// callers can fill defaults first and apply flags after. A key the config does
// not know is an error naming it, as a typo must not silently do nothing; so is
// a duration given as a bare number (see bareDuration). Errors are
// *ConfigError with File set.
func LoadTOML(path string, cfg any) error {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err == nil { // a syntax error is reported below
		if key, v, ok := bareDuration(raw, reflect.TypeOf(cfg).Elem(), ""); ok {
			name := key[strings.LastIndexByte(key, '.')+1:]
			return &ConfigError{File: path, Key: key, format: "%v is a bare number; a duration needs a unit, as a string: %s = \"%vs\"", args: []any{v, name, v}}
		}
	}
	md, err := toml.DecodeFile(path, cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return &ConfigError{File: path, format: "%s", args: []any{perr.Error()}}
		}
		return &ConfigError{File: path, format: "%v", args: []any{err}}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return &ConfigError{File: path, format: "unknown key %q", args: []any{und[0].String()}}
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// bareDuration finds a key of the struct type t, in the decoded TOML table m,
// that is a time.Duration given as a number: the TOML decoder takes an
// integer as nanoseconds, so dial_timeout = 5 would mean 5ns, and a float
// fails with a message about types. It returns the first such key, in TOML
// spelling under prefix (tunnels[1].x), and its value. The keys are found by
// their toml tags, so a duration field added later is covered by itself.
func bareDuration(m map[string]any, t reflect.Type, prefix string) (key string, v any, ok bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		val, set := m[name]
		if name == "" || name == "-" || !set {
			continue
		}
		switch ft := f.Type; {
		case ft == durationType:
			switch val.(type) {
			case int64, float64:
				return prefix + name, val, true
			}
		case ft.Kind() == reflect.Struct:
			if sub, isTable := val.(map[string]any); isTable {
				if key, v, ok := bareDuration(sub, ft, prefix+name+"."); ok {
					return key, v, true
				}
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			for j, sub := range tables(val) {
				if key, v, ok := bareDuration(sub, ft.Elem(), fmt.Sprintf("%s%s[%d].", prefix, name, j)); ok {
					return key, v, true
				}
			}
		}
	}
	return "", nil, false
}

// tables returns the tables of a decoded TOML array of tables, [[x]] or
// inline.
func tables(v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		var out []map[string]any
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// portSet is a parsed AllowPorts: nil allows every port.
type portSet [][2]int

func parsePortSet(s string) (portSet, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ps portSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			return nil, fmt.Errorf("%q is not a port or range of ports 1-65535", part)
		}
		ps = append(ps, [2]int{a, b})
	}
	return ps, nil
}

func (ps portSet) allows(port int) bool {
	if ps == nil {
		return true
	}
	for _, r := range ps {
		if port >= r[0] && port <= r[1] {
			return true
		}
	}
	return false
}
