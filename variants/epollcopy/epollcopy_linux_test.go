package epollcopy_test

import (
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/epollcopy"
	"github.com/ferry-tunnel/ferry/variants/internal/proof"
	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

// TestCopies proves that epollcopy copies through user space on its own event
// loops: moving N bytes adds at least 2N to the process's read(2) byte count
// (N for the test's receiver, N for the engine), copied_bytes says exactly N,
// the engine made read and write calls and waited in epoll_wait, and no
// buffer is held once the pair has ended.
func TestCopies(t *testing.T) {
	const n = enginetest.LargePayload
	e, err := relay.NewEngine(epollcopy.Name, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	delta := proof.ReadDuring(t, e, n, 1)
	if delta < 2*n {
		t.Errorf("read(2) returned %d bytes for %d relayed, want at least %d: the engine did not copy through user space", delta, n, 2*n)
	}
	c := e.Counters()
	t.Logf("counters: %v", c)
	if got := c[epollcopy.CounterCopiedBytes]; got != n {
		t.Errorf("%s = %d, want %d", epollcopy.CounterCopiedBytes, got, n)
	}
	for _, name := range []string{
		epollcopy.CounterReadCalls, epollcopy.CounterWriteCalls,
		reactor.CounterEpollWaits, reactor.CounterEvents,
	} {
		if c[name] == 0 {
			t.Errorf("%s = 0, want it counted", name)
		}
	}
	if got := c[epollcopy.CounterBuffersInUse]; got != 0 {
		t.Errorf("%s = %d after the pair ended, want 0", epollcopy.CounterBuffersInUse, got)
	}
}
