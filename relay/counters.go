package relay

import (
	"sync/atomic"
)

// counters is a fixed set of named event counts, cheap to bump from any
// goroutine.
type counters struct {
	names []string
	vals  []atomic.Uint64
}

func newCounters(names ...string) *counters {
	return &counters{names: names, vals: make([]atomic.Uint64, len(names))}
}

// add bumps the counter with index i (the caller's constant).
func (c *counters) add(i int) { c.vals[i].Add(1) }

// snapshot returns every counter by name, plus the engine's counters under
// "engine." so one map tells the whole story of a run, and those of an
// engine that relays TLS pairs apart from e under "tls_engine.".
func (c *counters) snapshot(e Engine, sr StreamRelayer) map[string]uint64 {
	m := make(map[string]uint64, len(c.names)+8)
	for i, n := range c.names {
		m[n] = c.vals[i].Load()
	}
	if e != nil {
		for k, v := range e.Counters() {
			m["engine."+k] = v
		}
	}
	if fe, ok := sr.(Engine); ok && fe != e {
		for k, v := range fe.Counters() {
			m["tls_engine."+k] = v
		}
	}
	return m
}
