package gocopy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/variants/internal/pairs"
)

// Name is the name the engine is registered under.
const Name = "gocopy"

// Counter names this engine adds to the common ones.
const (
	// CounterReadFromCalls counts calls to (*net.TCPConn).ReadFrom.
	CounterReadFromCalls = "readfrom_calls"
	// CounterCopiedBytes counts bytes copied through a user-space buffer,
	// which only pairs given to RelayStreams are.
	CounterCopiedBytes = "copied_bytes"
)

// chunk is how much one ReadFrom may move when the idle timeout needs to see
// progress. The runtime splices up to 1 MiB per splice(2), so 64 KiB costs a
// few more calls into the runtime but no extra copy.
const chunk = 64 << 10

func init() {
	relay.Register(Name, newEngine)
}

type engine struct {
	*pairs.Set
	readFroms atomic.Uint64
	buf       pairs.BufferedCopy
}

func newEngine(opts relay.Options) (relay.Engine, error) {
	e := &engine{}
	readFrom := e.whole
	if opts.IdleTimeout > 0 {
		readFrom = e.chunked(pairs.SweepInterval(opts.IdleTimeout))
	}
	set, err := pairs.New(opts, func(dst, src relay.Stream, moved func(int64)) error {
		// The runtime splices only from one TCP socket to another; the
		// plaintext of a TLS side exists only in user space.
		d, s := pairs.TCPConn(dst), pairs.TCPConn(src)
		if d == nil || s == nil {
			return e.buf.CopyLean(dst, src, moved)
		}
		return readFrom(d, s, moved)
	})
	if err != nil {
		return nil, err
	}
	e.Set = set
	return e, nil
}

// whole copies src to dst in one ReadFrom, which returns nil at EOF.
func (e *engine) whole(dst, src *net.TCPConn, moved func(int64)) error {
	e.readFroms.Add(1)
	n, err := dst.ReadFrom(src)
	moved(n)
	return err
}

// chunked returns a copy that reports progress at least every wake: after
// every 64 KiB chunk, and when a read deadline of wake ends a chunk that a
// slow sender has not filled. The deadline is only ever on the read side, so
// it interrupts the runtime's splice while its pipe is empty (in spliceDrain);
// a write deadline could interrupt it with bytes still in the pipe, which the
// runtime then throws away.
func (e *engine) chunked(wake time.Duration) func(dst, src *net.TCPConn, moved func(int64)) error {
	return func(dst, src *net.TCPConn, moved func(int64)) error {
		// *io.LimitedReader around a *net.TCPConn is the one wrapper the
		// runtime's spliceFrom unwraps; any other wrapper would silently turn
		// this into a user-space copy.
		lr := &io.LimitedReader{R: src}
		for {
			// An error here means src is closed; ReadFrom will say so.
			_ = src.SetReadDeadline(time.Now().Add(wake))
			lr.N = chunk
			n, err := dst.ReadFrom(lr)
			e.readFroms.Add(1)
			if n > 0 {
				moved(n)
			}
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				// Our own wake-up, not a failure: go round again.
			case err != nil:
				return err
			case n < chunk:
				// ReadFrom of a LimitedReader stops short without an
				// error only at EOF.
				return nil
			}
		}
	}
}

// Counters implements relay.Engine.
func (e *engine) Counters() map[string]uint64 {
	m := e.Set.Counters()
	m[CounterReadFromCalls] = e.readFroms.Load()
	m[CounterCopiedBytes] = e.buf.Copied.Load()
	return m
}
