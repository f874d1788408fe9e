package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestExpose: `ferry expose PORT --server ADDR` with the token from the
// environment prints the tunnel's public address on stdout, a line nothing
// else shares, and the address works. A server bound to all addresses
// announces 0.0.0.0, which nobody can dial; expose prints the server's host
// instead.
func TestExpose(t *testing.T) {
	backend := echoBackend(t)
	_, port, _ := net.SplitHostPort(backend)
	for _, tc := range []struct {
		name       string
		serverArgs []string
		wantHost   string
	}{
		{name: "bound to the listen host", wantHost: "127.0.0.1"},
		{name: "bound to all addresses", serverArgs: []string{"--public-bind", "0.0.0.0"}, wantHost: "127.0.0.1"},
		{name: "public host", serverArgs: []string{"--public-host", "localhost"}, wantHost: "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srvAddr := startServer(t, append([]string{"--token", "expose-test-token-0123456789"}, tc.serverArgs...)...)
			cmd := exec.Command(ferryBinary(t), "expose", port, "--server", srvAddr)
			cmd.Env = append(os.Environ(), "FERRY_TOKEN=expose-test-token-0123456789")
			setPdeathsig(cmd)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				sc.Scan()
				line <- sc.Text()
			}()
			var public string
			select {
			case public = <-line:
			case <-time.After(generous):
				t.Fatalf("ferry expose printed no address within %v; stderr:\n%s", generous, stderr.String())
			}
			host, _, err := net.SplitHostPort(public)
			if err != nil || host != tc.wantHost {
				t.Fatalf("stdout line %q: want %s:PORT", public, tc.wantHost)
			}
			if got := roundTrip(t, public, "exposed"); got != "exposed" {
				t.Fatalf("echoed %q through %s", got, public)
			}
		})
	}
}

func TestExposeUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no port", args: []string{"expose", "--server", "127.0.0.1:1"}, want: "which port?"},
		{name: "not a port", args: []string{"expose", "web", "--server", "127.0.0.1:1"}, want: `argument "web": want a port (8080) or HOST:PORT`},
		{name: "port out of range", args: []string{"expose", "99999", "--server", "127.0.0.1:1", "--token", "abcdefghijklmnopqrstuvwxyz"}, want: `argument "99999": local port 99999 is not 1-65535`},
		{name: "two ports", args: []string{"expose", "8080", "8081", "--server", "127.0.0.1:1"}, want: `unexpected argument "8081"`},
		{name: "no server", args: []string{"expose", "8080", "--token", "abcdefghijklmnopqrstuvwxyz"}, want: "server: must be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, one line saying %q", code, stdout, stderr, tc.want)
			}
		})
	}
}
