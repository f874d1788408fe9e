package reactor

import (
	"sync/atomic"

	"github.com/ferry-tunnel/ferry/relay"
)

// Counter names the reactor adds to the common relay.Counter* ones. The
// conduit pool adds its own (see CounterReadCalls).
const (
	CounterLoops        = "loops"         // event loops the engine runs (a constant, for the record)
	CounterEpollWaits   = "epoll_waits"   // epoll_wait calls, EINTR included
	CounterEvents       = "events"        // events epoll_wait returned, wake-ups and stale ones included
	CounterStaleEvents  = "stale_events"  // events for a pair that had already ended, dropped by generation
	CounterWakeups      = "wakeups"       // eventfd writes: another goroutine handing a loop work
	CounterEAGAINReads  = "eagain_reads"  // reads that found the source empty
	CounterEAGAINWrites = "eagain_writes" // writes that found the destination full: backpressure
	CounterBudgetYields = "budget_yields" // turns a direction ended on its byte cap with more to read
)

// Counter names of the buffer pool, the user-space copy that epollcopy uses
// and that a splice engine falls back to.
const (
	CounterReadCalls    = "read_calls"     // read(2) on a source socket
	CounterWriteCalls   = "write_calls"    // write(2) on a destination socket
	CounterCopiedBytes  = "copied_bytes"   // bytes written out of a user-space buffer
	CounterBuffersInUse = "buffers_in_use" // gauge: buffers holding bytes in flight right now
)

// loopCounters are one loop's counts. Only the loop writes most of them, so
// loops never contend for a cache line; Counters sums them from any
// goroutine. wakeups is bumped by the goroutines that wake the loop.
type loopCounters struct {
	pairsDone, aToB, bToA, idles, resets atomic.Uint64

	epollWaits, events, stale, wakeups      atomic.Uint64
	eagainReads, eagainWrites, budgetYields atomic.Uint64
}

// addTo adds c to the totals in m.
func (c *loopCounters) addTo(m map[string]uint64) {
	for _, kv := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{name: relay.CounterPairsDone, v: &c.pairsDone},
		{name: relay.CounterBytesAtoB, v: &c.aToB},
		{name: relay.CounterBytesBtoA, v: &c.bToA},
		{name: relay.CounterIdleTimeouts, v: &c.idles},
		{name: relay.CounterResets, v: &c.resets},
		{name: CounterEpollWaits, v: &c.epollWaits},
		{name: CounterEvents, v: &c.events},
		{name: CounterStaleEvents, v: &c.stale},
		{name: CounterWakeups, v: &c.wakeups},
		{name: CounterEAGAINReads, v: &c.eagainReads},
		{name: CounterEAGAINWrites, v: &c.eagainWrites},
		{name: CounterBudgetYields, v: &c.budgetYields},
	} {
		m[kv.name] += kv.v.Load()
	}
}
