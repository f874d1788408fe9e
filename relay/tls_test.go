package relay_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// tlsServer starts a server with TLS on, its self-signed certificate kept
// in a fresh state directory.
func tlsServer(t *testing.T, engine string, tlsData bool, mod func(*relay.ServerConfig)) *relay.Server {
	t.Helper()
	dir := t.TempDir()
	return startServer(t, engine, func(c *relay.ServerConfig) {
		c.TLS, c.TLSData, c.StateDir = true, tlsData, dir
		if mod != nil {
			mod(c)
		}
	})
}

// pinned makes a client trust srv by its fingerprint.
func pinned(srv *relay.Server) func(*relay.ClientConfig) {
	return func(c *relay.ClientConfig) { c.ServerFingerprint = srv.Fingerprint() }
}

// tlsOutcome checks how a TLS client fared: with wantErr "", the tunnel
// relays; otherwise Run gives up with ErrTLS saying wantErr. It reports
// whether the tunnel was meant to come up.
func tlsOutcome(t *testing.T, cl *runningClient, wantErr string) bool {
	t.Helper()
	if wantErr == "" {
		if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1000); err != nil {
			t.Fatal(err)
		}
		return true
	}
	err := runErr(t, cl)
	if !errors.Is(err, relay.ErrTLS) || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("got %v, want ErrTLS saying %q", err, wantErr)
	}
	checkPrefixedOnce(t, err)
	return false
}

// checkPrefixedOnce fails the test when err says "relay:" more than once,
// as "relay: TLS handshake: relay: TLS: ..." did: context is added once, at
// the package's edge.
func checkPrefixedOnce(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Count(err.Error(), "relay:") > 1 {
		t.Errorf("%q repeats the relay: prefix", err)
	}
}

// runErr waits for a client's Run to give up, which it must do at once for
// errors no retry fixes, and gives its error back to the client's own
// cleanup.
func runErr(t *testing.T, c *runningClient) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(patience):
		t.Fatal("Run did not give up: the client kept retrying an error no retry fixes")
		return nil
	}
}

// recorder relays connections to target and keeps every byte it saw either
// way, so a test can look at what crossed the wire.
type recorder struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
}

func newRecorder(t *testing.T, target string) *recorder {
	r := &recorder{}
	r.addr = serveTCP(t, func(c *net.TCPConn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			r.copy(up, c)
			up.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		r.copy(c, up)
		c.CloseWrite()
		<-done
	})
	return r
}

func (r *recorder) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *recorder) saw(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.seen.Bytes(), b)
}

// TestTLSTunnel relays through a TLS server, with and without TLS data
// connections, for every engine that can, and looks at the wire between
// client and server: with TLS data connections, the relayed bytes never
// appear on it in clear; without, they do (which proves the check can
// fail).
func TestTLSTunnel(t *testing.T) {
	marker := bytes.Repeat([]byte("ferry-plaintext-marker/"), 64)
	forEngine(t, func(t *testing.T, engine string) {
		for _, tlsData := range []bool{false, true} {
			name := "tls_data=false"
			if tlsData {
				name = "tls_data=true"
			}
			t.Run(name, func(t *testing.T) {
				if tlsData && !relaysStreams(t, engine) {
					t.Skip(engine + " cannot relay TLS data connections (TestTLSDataNeedsUserSpaceEngine)")
				}
				checkLeaks(t)
				srv := tlsServer(t, engine, tlsData, nil)
				rec := newRecorder(t, srv.Addr().String())
				cl := startClient(t, rec.addr, engine, web(echoServer(t), 0), pinned(srv))
				addr := waitTunnel(t, cl, "web")
				for range 3 {
					if err := echoRoundTrip(addr, 256<<10); err != nil {
						t.Fatal(err)
					}
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(patience))
				c.Write(marker)
				c.(*net.TCPConn).CloseWrite()
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || !bytes.Equal(got, marker) {
					t.Fatalf("echo of the marker: %d bytes, %v", len(got), err)
				}
				if rec.saw(append([]byte(relay.Magic), relay.Version, relay.KindControl)) {
					t.Error("a control preamble crossed the wire in clear: the control connection is not TLS")
				}
				if data := rec.saw(append([]byte(relay.Magic), relay.Version, relay.KindData)); data == tlsData {
					t.Errorf("data preamble in clear on the wire: %v, with tls_data %v", data, tlsData)
				}
				if saw := rec.saw(marker); saw == tlsData {
					t.Errorf("relayed bytes in clear on the wire: %v, with tls_data %v", saw, tlsData)
				}
				m := srv.Counters()
				if m["relays_done"] < 4 && m["public_conns"] < 4 {
					t.Errorf("server counters: %v", m)
				}
				// Data connections resume the control connection's TLS
				// session rather than verify a certificate each time.
				if n := cl.Counters()["data_tls_resumed"]; tlsData && n == 0 {
					t.Errorf("no TLS data connection resumed a session: %v", cl.Counters())
				}
			})
		}
	})
}

// relaysStreams says whether the named engine can relay TLS pairs.
func relaysStreams(t *testing.T, engine string) bool {
	e, err := relay.NewEngine(engine, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, ok := e.(relay.StreamRelayer)
	return ok
}

// TestTLSDataNeedsUserSpaceEngine: a server or client told to use an engine
// that cannot relay TLS data connections refuses, saying why, rather than
// run with one that silently does something else.
func TestTLSDataNeedsUserSpaceEngine(t *testing.T) {
	for _, engine := range relay.Engines() {
		if relaysStreams(t, engine) {
			continue
		}
		t.Run("engine="+engine, func(t *testing.T) {
			checkLeaks(t)
			_, err := relay.NewServer(relay.ServerConfig{Listen: "127.0.0.1:0", Token: token, Engine: engine, TLS: true, TLSData: true, StateDir: t.TempDir()})
			if !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), "cannot relay TLS data") {
				t.Errorf("server: got %v, want a config error saying the engine cannot relay TLS", err)
			}
			srv := tlsServer(t, "", true, nil)
			cl := startClient(t, srv.Addr().String(), engine, web(echoServer(t), 0), pinned(srv))
			if err := runErr(t, cl); !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), "cannot relay TLS data") {
				t.Errorf("client: got %v, want a config error saying the engine cannot relay TLS", err)
			}
		})
	}
}

// TestTLSSelfSignedKept: the self-signed certificate is made once, its key
// readable by the owner alone, and reused on restart, so a pinned
// fingerprint stays valid; the fingerprint is 64 hex digits.
func TestTLSSelfSignedKept(t *testing.T) {
	dir := t.TempDir()
	fp := func() string {
		srv, err := relay.NewServer(relay.ServerConfig{Listen: "127.0.0.1:0", Token: token, TLS: true, StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		return srv.Fingerprint()
	}
	first, second := fp(), fp()
	if len(first) != 64 || strings.Trim(first, "0123456789abcdef") != "" {
		t.Errorf("fingerprint %q: want 64 lower-case hex digits", first)
	}
	if first != second {
		t.Errorf("fingerprint changed across restarts: %s, then %s", first, second)
	}
	fi, err := os.Stat(filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	// The certificate is public, as docs/config.md says: clients may be
	// handed it as their CA.
	if fi, err := os.Stat(filepath.Join(dir, "server-cert.pem")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("certificate file: %v, %v; want mode 0644", fi, err)
	}
}

// TestTLSVerification covers how a client decides to trust a server and
// what it says when it does not.
func TestTLSVerification(t *testing.T) {
	wrong := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		mod     func(srv *relay.Server, dir string) func(*relay.ClientConfig)
		wantErr string // "" means the tunnel comes up
	}{
		{"pinned fingerprint", func(srv *relay.Server, _ string) func(*relay.ClientConfig) { return pinned(srv) }, ""},
		{"pinned with colons, upper case", func(srv *relay.Server, _ string) func(*relay.ClientConfig) {
			var b strings.Builder
			for i, r := range strings.ToUpper(srv.Fingerprint()) {
				if i > 0 && i%2 == 0 {
					b.WriteByte(':')
				}
				b.WriteRune(r)
			}
			return func(c *relay.ClientConfig) { c.ServerFingerprint = b.String() }
		}, ""},
		{"certificate file as CA", func(_ *relay.Server, dir string) func(*relay.ClientConfig) {
			return func(c *relay.ClientConfig) { c.CA = filepath.Join(dir, "server-cert.pem") }
		}, ""},
		{"wrong fingerprint", func(*relay.Server, string) func(*relay.ClientConfig) {
			return func(c *relay.ClientConfig) { c.ServerFingerprint = wrong }
		}, "not the pinned " + wrong},
		{"unknown CA", func(*relay.Server, string) func(*relay.ClientConfig) {
			return func(c *relay.ClientConfig) { c.CA = newCA(t).certFile }
		}, "does not verify"},
		{"name not in the certificate", func(_ *relay.Server, dir string) func(*relay.ClientConfig) {
			return func(c *relay.ClientConfig) {
				c.CA, c.ServerName = filepath.Join(dir, "server-cert.pem"), "elsewhere.example"
			}
		}, "does not verify"},
		{"plain client", func(*relay.Server, string) func(*relay.ClientConfig) { return nil }, "TLS only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			dir := t.TempDir()
			srv := startServer(t, "", func(c *relay.ServerConfig) { c.TLS, c.StateDir = true, dir })
			cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), 0), tt.mod(srv, dir))
			tlsOutcome(t, cl, tt.wantErr)
		})
	}
}

// TestTLSClientToPlainServer: a TLS client facing a server without TLS
// stops and says so.
func TestTLSClientToPlainServer(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), 0), func(c *relay.ClientConfig) { c.TLS = true })
	err := runErr(t, cl)
	if !errors.Is(err, relay.ErrTLS) || !strings.Contains(err.Error(), "did not answer in TLS") {
		t.Errorf("got %v, want ErrTLS saying the server did not answer in TLS", err)
	}
	checkPrefixedOnce(t, err)
}

// TestMutualTLS: with client_ca the server admits only clients with a
// certificate that CA signed, token or not.
func TestMutualTLS(t *testing.T) {
	ca := newCA(t)
	own := ca.issue(t, "good-client")
	stranger := newCA(t).issue(t, "stranger")
	tests := []struct {
		name    string
		cert    *issued
		wantErr string
	}{
		{"signed by the CA", own, ""},
		{"no certificate", nil, "refused the TLS handshake"},
		{"signed by another CA", stranger, "refused the TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			srv := tlsServer(t, "", true, func(c *relay.ServerConfig) { c.ClientCA = ca.certFile })
			cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), 0), func(c *relay.ClientConfig) {
				c.ServerFingerprint = srv.Fingerprint()
				if tt.cert != nil {
					c.TLSCert, c.TLSKey = tt.cert.certFile, tt.cert.keyFile
				}
			})
			if !tlsOutcome(t, cl, tt.wantErr) {
				// The client can give up before the server's side of
				// the failed handshake has ended and been counted.
				waitFor(t, "the server to count the failed handshake", func() bool { return srv.Counters()["tls_failed"] > 0 })
			}
		})
	}
}

// issued is a certificate and key in PEM files.
type issued struct {
	certFile, keyFile string
	cert              *x509.Certificate
	key               *ecdsa.PrivateKey
}

// newCA makes a throwaway CA.
func newCA(t *testing.T) *issued {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "test CA"},
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return makeCert(t, tmpl, nil)
}

// issue makes a client certificate signed by ca.
func (ca *issued) issue(t *testing.T, name string) *issued {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return makeCert(t, tmpl, ca)
}

func makeCert(t *testing.T, tmpl *x509.Certificate, parent *issued) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	out := &issued{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), cert: cert, key: key}
	os.WriteFile(out.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(out.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return out
}

// TestTLSDataTransportChecked: a data connection's transport must be the
// one the server told the session, checked before its header is read. With
// tls_data a connection in clear is TLSRequired; without, one over TLS is a
// protocol error, as the engine may not relay TLS at all.
func TestTLSDataTransportChecked(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tlsData bool
		dial    func(addr string) (net.Conn, error)
		code    byte
		counter string
	}{
		{"clear to a tls_data server", true, func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) },
			relay.CodeTLSRequired, "tls_required"},
		{"TLS to a server without tls_data", false, func(addr string) (net.Conn, error) {
			return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		}, relay.CodeProtocol, "protocol_errors"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			srv := tlsServer(t, "", tt.tlsData, nil)
			c, err := tt.dial(srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(patience))
			c.Write(append([]byte(relay.Magic), relay.Version, relay.KindData))
			got, _ := io.ReadAll(c)
			if want := []byte{relay.DataRefused, 1, tt.code}; !bytes.Equal(got, want) {
				t.Errorf("got % x, want % x", got, want)
			}
			waitFor(t, tt.counter+" counted", func() bool { return srv.Counters()[tt.counter] == 1 })
		})
	}
}

// TestTLSSilentConnectionIsJunk: a connection that closes before its first
// byte is counted as junk, not as a failed TLS handshake.
func TestTLSSilentConnectionIsJunk(t *testing.T) {
	checkLeaks(t)
	srv := tlsServer(t, "", false, nil)
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "protocol_errors counted", func() bool { return srv.Counters()["protocol_errors"] == 1 })
	if n := srv.Counters()["tls_failed"]; n != 0 {
		t.Errorf("tls_failed = %d, want 0", n)
	}
}
