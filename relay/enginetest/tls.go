package enginetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// serverName is the name in the test certificate, which the client checks.
const serverName = "enginetest.invalid"

// tlsEnds are the configurations of the two ends of a TLS pair's b <-> C2.
type tlsEnds struct{ server, client *tls.Config }

// tlsConfigs returns a server configuration with a throwaway self-signed
// ECDSA P-256 certificate, made once per test binary and never written to
// disk, and a client configuration that trusts only that certificate. Both
// speak TLS 1.3 and nothing older. The server sends no session tickets, so
// that after the handshake every byte on the wire is the scenario's own.
var tlsConfigs = sync.OnceValues(func() (tlsEnds, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsEnds{}, fmt.Errorf("test certificate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		DNSNames:    []string{serverName},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tlsEnds{}, fmt.Errorf("test certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tlsEnds{}, fmt.Errorf("test certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tlsEnds{
		server: &tls.Config{
			Certificates:           []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
			MinVersion:             tls.VersionTLS13,
			SessionTicketsDisabled: true,
		},
		client: &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS13},
	}, nil
})

// handshake runs a TLS handshake over the connection c2 <-> b, c2 the client,
// and returns the two ends with their handshakes complete, or fails tb.
func handshake(tb testing.TB, c2, b *net.TCPConn) (client, server *tls.Conn) {
	tb.Helper()
	cfg, err := tlsConfigs()
	if err != nil {
		tb.Fatal(err)
	}
	client, server = tls.Client(c2, cfg.client), tls.Server(b, cfg.server)
	served := make(chan error, 1)
	go func() { served <- server.Handshake() }()
	cerr := client.Handshake()
	if cerr != nil {
		c2.Close() // so that the server does not wait for the client's next flight
	}
	serr := <-served
	if cerr != nil || serr != nil {
		tb.Fatalf("TLS handshake: client %v, server %v", cerr, serr)
	}
	return client, server
}
