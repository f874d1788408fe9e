package gocopybuf

import (
	"io"
	"sync"
	"sync/atomic"

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

const bufSize = 64 << 10

// bufs holds the copy buffers. A direction takes one when it starts and puts
// it back when it ends, so an engine holds 64 KiB per running direction and
// nothing for pairs that have ended.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func init() {
	relay.Register(Name, newEngine)
}

type engine struct {
	*pairs.Set
	reads, writes, copied atomic.Uint64
}

func newEngine(opts relay.Options) (relay.Engine, error) {
	e := &engine{}
	e.Set = pairs.New(opts, e.copyBuf)
	return e, nil
}

// copyBuf moves src to dst through a user-space buffer. Write writes all of
// buf or fails, so every chunk read is passed on before the next Read.
func (e *engine) copyBuf(dst, src relay.Stream, moved func(int64)) error {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := src.Read(buf)
		e.reads.Add(1)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			e.writes.Add(1)
			if nw > 0 {
				e.copied.Add(uint64(nw))
				moved(int64(nw))
			}
			if werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// Counters implements relay.Engine.
func (e *engine) Counters() map[string]uint64 {
	m := e.Set.Counters()
	m[CounterReadCalls] = e.reads.Load()
	m[CounterWriteCalls] = e.writes.Load()
	m[CounterCopiedBytes] = e.copied.Load()
	return m
}
