package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A burst is the junk an attacker opens on a tunnel's public port and on the
// server port at once: silent connections, connections that send garbage and
// stay open, and slowloris connections that send a byte a second. Each kind
// is spread over the source addresses from.
type burst struct {
	silent, garbage, slow int
	from                  []net.IP
}

// open dials the burst at every address in targets, closes half once half
// of it has been dialled, and returns once every connection is open (or was
// refused: a refusal is the server's right) with a function that closes them
// all with a reset, and how many were opened. The slowloris writers stop
// when they are closed.
func (b burst) open(t *testing.T, half chan<- struct{}, targets ...string) (closeAll func(), opened int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup // dialers
		slow  sync.WaitGroup // slowloris writers
	)
	type job struct {
		target, kind string
		from         net.IP
	}
	jobs := make(chan job)
	for range 64 { // dialers at once: a burst, within the listen backlogs
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				d := net.Dialer{Timeout: generous}
				if !j.from.Equal(net.IPv4(127, 0, 0, 1)) {
					// Bound to its address before connecting, so it
					// needs a port of its own there; 127.0.0.1, the
					// default source, is left to connect, which can
					// reuse a port towards another destination.
					d.LocalAddr = &net.TCPAddr{IP: j.from}
				}
				c, err := d.DialContext(ctx, "tcp", j.target)
				if err != nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				switch j.kind {
				case "garbage":
					junk := make([]byte, 1024)
					for i := range junk {
						junk[i] = byte(rand.N(256))
					}
					c.SetWriteDeadline(time.Now().Add(time.Second))
					c.Write(junk)
				case "slow":
					slow.Add(1)
					go func() {
						defer slow.Done()
						tick := time.NewTicker(time.Second)
						defer tick.Stop()
						for {
							c.SetWriteDeadline(time.Now().Add(time.Second))
							if _, err := c.Write([]byte{byte(rand.N(256))}); err != nil {
								return
							}
							select {
							case <-ctx.Done():
								return
							case <-tick.C:
							}
						}
					}()
				}
			}
		}()
	}
	i, total := 0, len(targets)*(b.silent+b.garbage+b.slow)
	for _, target := range targets {
		for _, k := range []struct {
			kind string
			n    int
		}{{"silent", b.silent}, {"garbage", b.garbage}, {"slow", b.slow}} {
			for range k.n {
				jobs <- job{target: target, kind: k.kind, from: b.from[i%len(b.from)]}
				if i++; i == total/2 {
					close(half)
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	return func() {
		cancel()
		mu.Lock()
		for _, c := range conns {
			// A reset leaves no TIME_WAIT behind to hold the
			// address's ports through the next tries.
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		mu.Unlock()
		slow.Wait()
	}, len(conns)
}

// addrs returns n loopback addresses from 127.0.0.first up.
func addrs(first, n int) []net.IP {
	var ips []net.IP
	for i := range n {
		ips = append(ips, net.IPv4(127, 0, 0, byte(first+i)))
	}
	return ips
}

// httpBackend serves size bytes of a fixed pseudo-random body at /download
// and returns its address and the body's SHA-256.
func httpBackend(t *testing.T, size int) (addr, sum string) {
	t.Helper()
	body := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	h := sha256.Sum256(body)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/download" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		http.ServeContent(w, r, "download", time.Time{}, bytes.NewReader(body))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hex.EncodeToString(h[:])
}

// TestBurstKeepsRealUsers: in the middle of a burst of junk connections on a
// tunnel's public port and on the server port, a real HTTP client's 16 MiB
// download through the tunnel arrives whole, every time, and the server
// resets no public connection: new connections wait for the burst to drain
// instead. Once with the junk from 40 addresses, once from the ferry
// client's own address, whose data connections must not starve behind the
// junk's handshakes.
func TestBurstKeepsRealUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skipf("curl is not installed (.ci/run installs it): %v", err)
	}
	const size = 16 << 20
	backend, sum := httpBackend(t, size)
	for _, sc := range []struct {
		name string
		from []net.IP
	}{
		{name: "40 addresses", from: addrs(10, 40)},
		{name: "the client's address", from: addrs(1, 1)},
	} {
		// Ten tries with each engine the issue saw fail: twenty per
		// scenario.
		for _, engine := range []string{"gocopy", "epollsplice"} {
			t.Run(sc.name+"/"+engine, func(t *testing.T) {
				srv, srvAddr := startServer(t, "--token", "burst-test-token-0123456789", "--engine", engine, "--log-level", "info")
				cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "burst-test-token-0123456789",
					"--id", "burst", "--engine", engine, "--tunnel", "web="+backend+":0", "--log-level", "info")
				line := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
					addr, _ := m["public_addr"].(string)
					return addr != "" && m["msg"] == "tunnel web ready at "+addr
				})
				public := line["public_addr"].(string)
				b := burst{silent: 2000, garbage: 200, slow: 100, from: sc.from}
				out := filepath.Join(t.TempDir(), "download")
				for try := range 10 {
					half := make(chan struct{})
					opened := make(chan func(), 1)
					go func() {
						closeAll, _ := b.open(t, half, public, srvAddr)
						opened <- closeAll
					}()
					<-half
					msg, err := exec.Command(curl, "--silent", "--show-error", "--max-time", "60",
						"--output", out, "http://"+public+"/download").CombinedOutput()
					(<-opened)()
					if err != nil {
						t.Fatalf("try %d: curl: %v: %s", try, err, strings.TrimSpace(string(msg)))
					}
					got, err := os.ReadFile(out)
					if err != nil {
						t.Fatal(err)
					}
					h := sha256.Sum256(got)
					if len(got) != size || hex.EncodeToString(h[:]) != sum {
						t.Fatalf("try %d: downloaded %d bytes with SHA-256 %x, want %d with %s", try, len(got), h, size, sum)
					}
				}
				srv.signal(syscall.SIGTERM)
				counters, _ := srv.waitLog("its counters", msgIs("server stopped"))["counters"].(map[string]any)
				for _, name := range []string{"data_timeouts", "public_dropped", "conns_limited", "queue_full"} {
					if n, _ := counters[name].(float64); n != 0 {
						t.Errorf("the server reset public connections: %s = %v", name, n)
					}
				}
				if n, _ := counters["relays_done"].(float64); n < 10*float64(b.silent) {
					t.Errorf("relays_done = %v, want at least the %d silent connections", n, 10*b.silent)
				}
			})
		}
	}
}
