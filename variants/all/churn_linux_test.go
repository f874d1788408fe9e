package all_test

import (
	"io"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
)

// churnBatch is how many pairs BenchmarkChurn runs at once.
const churnBatch = 32

// BenchmarkChurn measures what a pair costs an engine from Relay to done:
// each op is one pair that carries size bytes each way and is closed
// cleanly by both ends. The sockets are dialled, accepted and closed with
// the timer stopped, churnBatch pairs at a time, and each batch's pairs run
// at once, so ns/op is the engine's per-pair work (start, goroutines or
// registration, the exchange, the end, done) over two cores, not the cost
// of TCP handshakes. cpu-ns/op is the CPU the whole process used per op
// while the timer ran, the test's own ends included.
//
//	go test -run '^$' -bench Churn -count 10 ./variants/all
func BenchmarkChurn(b *testing.B) {
	benchEngines(b, []int{64}, func(b *testing.B, e relay.Engine, size int) {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		b.ReportAllocs()
		var cpu int64
		b.ResetTimer()
		for left := b.N; left > 0; left -= churnBatch {
			b.StopTimer()
			ps := make([]churnPair, min(left, churnBatch))
			for i := range ps {
				// Whoever sends the first FIN keeps the connection in
				// TIME_WAIT for a minute: C1 on its way in, b on its
				// way out. Those are the accepted ends, on the
				// listener's port, so that a long run does not use up
				// the machine's ephemeral ports.
				ps[i].a, ps[i].c1 = dialAccept(b, ln)
				ps[i].c2, ps[i].b = dialAccept(b, ln)
			}
			cpu0 := cpuTime(b)
			b.StartTimer()
			var wg sync.WaitGroup
			errs := make(chan error, len(ps))
			for i := range ps {
				p := &ps[i]
				wg.Add(2) // the exchange, and done
				e.Relay(p.a, p.b, func(relay.Result) { wg.Done() })
				go func() {
					defer wg.Done()
					if err := p.exchange(size); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			cpu += cpuTime(b) - cpu0
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			for _, p := range ps {
				p.c1.Close()
				p.c2.Close()
			}
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	})
}

// A churnPair is the benchmark's ends c1 and c2 of one pair, and the
// engine's a and b.
type churnPair struct{ c1, a, c2, b *net.TCPConn }

// exchange sends size bytes from c1 to c2 and back, each end half-closing
// after it has sent, and reads both to EOF.
func (p *churnPair) exchange(size int) error {
	msg := make([]byte, size)
	if _, err := p.c1.Write(msg); err != nil {
		return err
	}
	if err := p.c1.CloseWrite(); err != nil {
		return err
	}
	if _, err := io.ReadFull(p.c2, msg); err != nil {
		return err
	}
	if _, err := p.c2.Write(msg); err != nil {
		return err
	}
	if err := p.c2.CloseWrite(); err != nil {
		return err
	}
	for _, c := range []*net.TCPConn{p.c2, p.c1} {
		if _, err := io.Copy(io.Discard, c); err != nil {
			return err
		}
	}
	return nil
}

func dialAccept(b *testing.B, ln *net.TCPListener) (dialled, accepted *net.TCPConn) {
	b.Helper()
	dialled, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		b.Fatal(err)
	}
	if accepted, err = ln.AcceptTCP(); err != nil {
		b.Fatal(err)
	}
	return dialled, accepted
}

// cpuTime is the user and system CPU this process has used, in ns.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
