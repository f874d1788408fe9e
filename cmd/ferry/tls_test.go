package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestTLSEndToEnd runs the README's TLS walkthrough with the real binary:
// a server with --tls --tls-data logs its fingerprint, a client pins it and
// relays; a client pinning another fingerprint exits 1 saying why.
func TestTLSEndToEnd(t *testing.T) {
	srv, srvAddr := startServer(t, "--token", "s3cret", "--tls", "--tls-data", "--state-dir", t.TempDir())
	line := srv.waitLog("its fingerprint", msgIs("ferry server listening"))
	fp, _ := line["tls_fingerprint"].(string)
	if len(fp) != 64 || line["tls_data"] != true {
		t.Fatalf("listening line: %v, want tls_data true and a 64-digit tls_fingerprint", line)
	}

	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret", "--id", "e2e-tls",
		"--server-fingerprint", fp, "--tunnel", "echo="+echoBackend(t)+":0")
	ready := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
		return m["tunnel"] == "echo" && m["public_addr"] != nil
	})
	if got := roundTrip(t, ready["public_addr"].(string), "over tls"); got != "over tls" {
		t.Errorf("echo through the TLS tunnel: %q", got)
	}

	wrong := startFerry(t, "client-wrong", "client", "--server", srvAddr, "--token", "s3cret", "--id", "e2e-tls-wrong",
		"--server-fingerprint", strings.Repeat("0", 64), "--tunnel", "echo="+echoBackend(t)+":0")
	if code := wrong.wait(); code != exitFatal {
		t.Fatalf("client pinning the wrong fingerprint exited %d, want %d", code, exitFatal)
	}
	gaveUp := wrong.waitLog("why it gave up", msgIs("TLS with the server failed; check --tls, --ca, --server-fingerprint or --tls-cert"))
	// Said once: not "relay: TLS handshake: relay: TLS: ...".
	if why, _ := gaveUp["err"].(string); !strings.Contains(why, "not the pinned") || strings.Count(why, "relay:") != 1 {
		t.Errorf("err %q: want the fingerprint mismatch, with the relay: prefix once", why)
	}
}

// TestTLSDataWithSpliceEngineExits2: naming an engine that cannot relay TLS
// data connections is a start-up error, not a silent change of engine.
func TestTLSDataWithSpliceEngineExits2(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the splice engines are Linux-only")
	}
	code, _, stderr := runFerry(t, "server", "--listen", "127.0.0.1:0", "--token", "t", "--tls", "--tls-data",
		"--state-dir", t.TempDir(), "--engine", "epollsplice")
	if code != exitUsage || !strings.Contains(stderr, "cannot relay TLS data connections") {
		t.Errorf("server: exit %d, stderr %q: want %d and why", code, stderr, exitUsage)
	}

	// A client learns tls_data from the server; it stops with the same
	// reason and exit code, so a supervisor does not restart it in a loop.
	srv, srvAddr := startServer(t, "--token", "s3cret", "--tls", "--tls-data", "--state-dir", t.TempDir())
	fp, _ := srv.waitLog("its fingerprint", msgIs("ferry server listening"))["tls_fingerprint"].(string)
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret", "--id", "e2e-splice",
		"--server-fingerprint", fp, "--engine", "epollsplice", "--tunnel", "echo="+echoBackend(t)+":0")
	if code := cl.wait(); code != exitUsage {
		t.Fatalf("client: exit %d, want %d", code, exitUsage)
	}
	cl.waitLog("why it gave up", msgIs("the server's settings need another client config"))
}
