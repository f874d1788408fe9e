package reactor

import (
	"net"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// patience bounds every wait for something that must happen; generous, as CI
// is a busy 2-core machine.
const patience = 20 * time.Second

func bufferPool() Pool { return NewBufferPool(DefaultBufferSize) }

// tcpConn returns both ends of a loopback TCP connection; t.Cleanup closes
// them (a no-op for an end handed to the engine, which closed it).
func tcpConn(t *testing.T) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialled, err = net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialled.Close() })
	accepted, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	dialled.SetDeadline(time.Now().Add(2 * time.Minute))
	return dialled, accepted
}

// result waits for a done function's report.
func result(t *testing.T, ch <-chan relay.Result) relay.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(patience):
		t.Fatalf("done not called within %v", patience)
		return relay.Result{}
	}
}

// reporter returns a done function that sends to the returned channel.
func reporter() (func(relay.Result), <-chan relay.Result) {
	ch := make(chan relay.Result, 1)
	return func(r relay.Result) { ch <- r }, ch
}

// testPair is C1 <-> a [engine] b <-> C2, with the test holding C1 and C2.
type testPair struct {
	C1, C2 *net.TCPConn
	res    <-chan relay.Result
}

// relayPair connects two loopback connections and relays their accepted ends
// on e. A non-zero buf pins the send and receive buffers of all four sockets
// (no autotuning), so that how much a stalled pair holds is known.
func relayPair(t *testing.T, e relay.Engine, buf int) *testPair {
	t.Helper()
	c1, a := tcpConn(t)
	c2, b := tcpConn(t)
	if buf > 0 {
		for _, c := range []*net.TCPConn{c1, a, b, c2} {
			if err := c.SetReadBuffer(buf); err != nil {
				t.Fatal(err)
			}
			if err := c.SetWriteBuffer(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	done, res := reporter()
	e.Relay(a, b, done)
	return &testPair{C1: c1, C2: c2, res: res}
}

// newTestEngine starts an engine with buffer conduits; t.Cleanup closes it.
func newTestEngine(t *testing.T, opts relay.Options, cfg Config) *Engine {
	t.Helper()
	if cfg.NewPool == nil {
		cfg.NewPool = bufferPool
	}
	cfg.Name = "test"
	e, err := New(opts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// eventually polls cond every few milliseconds until it holds or patience
// runs out, and reports whether it held: for state the loop changes on its
// own goroutine after the event the test can see.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
