package gocopybuf

import (
	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/variants/internal/pairs"
)

// Name is the name the engine is registered under.
const Name = "gocopybuf"

// Counter names this engine adds to the common ones.
const (
	CounterReadCalls   = "read_calls"
	CounterWriteCalls  = "write_calls"
	CounterCopiedBytes = "copied_bytes"
)

func init() {
	relay.Register(Name, newEngine)
}

type engine struct {
	*pairs.Set
	buf pairs.BufferedCopy
}

func newEngine(opts relay.Options) (relay.Engine, error) {
	e := &engine{}
	set, err := pairs.New(opts, e.buf.Copy)
	if err != nil {
		return nil, err
	}
	e.Set = set
	return e, nil
}

// Counters implements relay.Engine.
func (e *engine) Counters() map[string]uint64 {
	m := e.Set.Counters()
	m[CounterReadCalls] = e.buf.Reads.Load()
	m[CounterWriteCalls] = e.buf.Writes.Load()
	m[CounterCopiedBytes] = e.buf.Copied.Load()
	return m
}
