package gocopy_test

import (
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/gocopy"
	"github.com/ferry-tunnel/ferry/variants/internal/proof"
)

// TestSplices proves that gocopy relays with splice(2): moving N bytes adds
// about N to the process's read(2) byte count, the test's own receiver, and
// not the 2N a user-space copy would. Both of gocopy's paths are checked: the
// single ReadFrom, and the 64 KiB LimitedReader chunks it uses for an idle
// timeout, which a wrapper the runtime does not recognise would turn into a
// copy.
func TestSplices(t *testing.T) {
	const n = enginetest.LargePayload
	for _, tc := range []struct {
		name string
		idle time.Duration
	}{
		{name: "whole", idle: 0},
		{name: "chunked", idle: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := relay.NewEngine(gocopy.Name, relay.Options{IdleTimeout: tc.idle})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			delta := proof.ReadDuring(t, e, n, 1)
			if delta >= n+n/2 {
				t.Errorf("read(2) returned %d bytes for %d relayed: the engine copied through user space instead of splicing", delta, n)
			}
			c := e.Counters()
			if c[gocopy.CounterReadFromCalls] == 0 {
				t.Errorf("%s = 0", gocopy.CounterReadFromCalls)
			}
			if c[gocopy.CounterCopiedBytes] != 0 {
				t.Errorf("%s = %d, want 0: a pair of TCP sockets took the user-space copy", gocopy.CounterCopiedBytes, c[gocopy.CounterCopiedBytes])
			}
		})
	}
}
