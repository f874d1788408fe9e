package gocopybuf_test

import (
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/gocopybuf"
	"github.com/ferry-tunnel/ferry/variants/internal/proof"
)

// TestCopies proves that gocopybuf copies through user space: moving N bytes
// adds at least 2N to the process's read(2) byte count, N for the test's own
// receiver and N for the engine, and copied_bytes says N.
func TestCopies(t *testing.T) {
	const n = enginetest.LargePayload
	e, err := relay.NewEngine(gocopybuf.Name, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	delta := proof.ReadDuring(t, e, n, 1)
	if delta < 2*n {
		t.Errorf("read(2) returned %d bytes for %d relayed, want at least %d: the engine did not copy through user space", delta, n, 2*n)
	}
	c := e.Counters()
	if got := c[gocopybuf.CounterCopiedBytes]; got != n {
		t.Errorf("%s = %d, want %d", gocopybuf.CounterCopiedBytes, got, n)
	}
	if c[gocopybuf.CounterReadCalls] == 0 || c[gocopybuf.CounterWriteCalls] == 0 {
		t.Errorf("read_calls %d, write_calls %d: want both counted", c[gocopybuf.CounterReadCalls], c[gocopybuf.CounterWriteCalls])
	}
}
