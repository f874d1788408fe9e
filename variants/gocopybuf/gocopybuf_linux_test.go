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
	before, err := proof.ReadChars()
	if err != nil {
		t.Skipf("no read accounting here: %v", err)
	}
	proof.Transfer(t, e, n)
	after, err := proof.ReadChars()
	if err != nil {
		t.Fatal(err)
	}
	delta := after - before
	t.Logf("relayed %d bytes, process read(2) %d bytes (%.2f×)", n, delta, float64(delta)/n)
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
