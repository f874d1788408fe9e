package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TLS on the server port (docs/protocol.md, "TLS"). The server tells a TLS
// ClientHello from the ferry preamble by the first byte: a TLS record of
// type handshake starts with 0x16, every ferry connection with 'F'. Inside
// TLS the protocol is unchanged, preamble first.
const tlsHandshakeRecord = 0x16

// Files the server keeps its self-signed certificate in, under StateDir.
const (
	selfSignedCert = "server-cert.pem"
	selfSignedKey  = "server-key.pem"
)

// ErrTLS wraps failures to verify the other side's certificate: retrying
// cannot fix them, so the client stops and says why.
var ErrTLS = errors.New("relay: TLS")

// Fingerprint is the SHA-256 of a certificate's DER encoding, as 64
// lower-case hex digits: what the server logs and --server-fingerprint pins.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts a fingerprint in upper or lower case, with or
// without colons between bytes, and returns it as Fingerprint writes it.
func normalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return h, nil
}

// DefaultStateDir is where a server keeps its self-signed certificate when
// StateDir is not set: $STATE_DIRECTORY (set by systemd's StateDirectory=),
// else $XDG_STATE_HOME/ferry, else ~/.local/state/ferry.
func DefaultStateDir() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may list several, colon-separated; the first is ours.
		d, _, _ = strings.Cut(d, ":")
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ferry"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: %w (set state_dir)", err)
	}
	return filepath.Join(home, ".local", "state", "ferry"), nil
}

// serverTLS builds the server's TLS config: TLS 1.3 only, the certificate
// from files or the self-signed one in the state directory, and client
// certificates required when ClientCA is set. It returns the leaf's
// fingerprint for the log.
func (c *ServerConfig) serverTLS() (*tls.Config, string, error) {
	var cert tls.Certificate
	var err error
	if c.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, "", configErr("tls_cert", "%v", err)
		}
	} else {
		cert, err = loadOrCreateSelfSigned(c.StateDir, c.Listen)
		if err != nil {
			return nil, "", configErr("state_dir", "%v", err)
		}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, "", configErr("tls_cert", "%v", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
	}
	if c.ClientCA != "" {
		pool, err := loadPool(c.ClientCA)
		if err != nil {
			return nil, "", configErr("client_ca", "%v", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, Fingerprint(leaf), nil
}

// clientTLS builds the client's TLS config: TLS 1.3 only, the server
// verified against CA (or the system's roots) unless a fingerprint is
// pinned, in which case the pin alone decides; a client certificate when
// one is configured; and a session cache, so that data connections resume
// the control connection's TLS session instead of verifying a certificate
// chain each time.
func (c *ClientConfig) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         c.ServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(c.Server)
	}
	if c.CA != "" {
		pool, err := loadPool(c.CA)
		if err != nil {
			return nil, configErr("ca", "%v", err)
		}
		cfg.RootCAs = pool
	}
	if c.ServerFingerprint != "" {
		want := c.ServerFingerprint
		// The pin replaces chain and name checks: a self-signed
		// certificate names no CA, and the address dialled need not be
		// one of its names. With a CA as well, both must pass.
		cfg.InsecureSkipVerify = c.CA == ""
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the server sent no certificate", ErrTLS)
			}
			if got := Fingerprint(cs.PeerCertificates[0]); got != want {
				return fmt.Errorf("%w: the server's certificate has fingerprint %s, not the pinned %s", ErrTLS, got, want)
			}
			return nil
		}
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, configErr("tls_cert", "%v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tlsRefused explains a failure no retry fixes: a server certificate that
// does not verify, a server that refused ours (which a TLS 1.3 client learns
// only at its first read after the handshake), or a server without TLS. It
// wraps those in ErrTLS, quoting the TLS error alone (not the context err
// may have gathered, which would say "relay:" twice), and returns any other
// error as it is.
func tlsRefused(err error) error {
	var (
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
		op     *net.OpError
	)
	switch {
	case errors.Is(err, ErrTLS):
		return err
	case errors.As(err, &verify):
		return fmt.Errorf("%w: the server's certificate does not verify (use --ca with the certificate that signed it, or pin --server-fingerprint): %v", ErrTLS, verify)
	case errors.As(err, &record):
		return fmt.Errorf("%w: the server did not answer in TLS (is tls on in its config?): %v", ErrTLS, record)
	case errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("%w: the server refused the TLS handshake (does it want a client certificate, --tls-cert and --tls-key?): %v", ErrTLS, op)
	}
	return err
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// loadOrCreateSelfSigned returns the certificate kept in dir, making it on
// first use: an ECDSA P-256 key (0600) and a ten-year self-signed
// certificate naming this host, localhost, the loopback addresses and the
// listen address. Clients pin its fingerprint, or trust the certificate
// file itself as their CA.
func loadOrCreateSelfSigned(dir, listen string) (tls.Certificate, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultStateDir(); err != nil {
			return tls.Certificate{}, err
		}
	}
	certFile, keyFile := filepath.Join(dir, selfSignedCert), filepath.Join(dir, selfSignedKey)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return cert, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ferry server " + host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && h != "" && h != host && h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	// The key first and never readable by others; the certificate last,
	// so a crash in between leaves no certificate without its key.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

// writeFileAtomic writes to a temporary file in the same directory and
// renames it into place, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// prefixConn gives back the byte the server read to tell TLS from plain,
// before reading on from the socket.
type prefixConn struct {
	*net.TCPConn
	first   byte
	pending bool
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if c.pending && len(b) > 0 {
		c.pending = false
		b[0] = c.first
		return 1, nil
	}
	return c.TCPConn.Read(b)
}
