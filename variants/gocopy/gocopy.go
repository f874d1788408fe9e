package gocopy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
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
// few more calls into the runtime but no extra copy. It is also the size of
// the user-space copy's buffers.
const chunk = 64 << 10

// bufs holds the user-space copy's buffers. A direction takes one when it
// starts and puts it back when it ends.
var bufs = sync.Pool{New: func() any { b := make([]byte, chunk); return &b }}

func init() {
	relay.Register(Name, newEngine)
}

type engine struct {
	*pairs.Set
	readFroms, copied atomic.Uint64
}

func newEngine(opts relay.Options) (relay.Engine, error) {
	e := &engine{}
	readFrom := e.whole
	if opts.IdleTimeout > 0 {
		readFrom = e.chunked(pairs.SweepInterval(opts.IdleTimeout))
	}
	e.Set = pairs.New(opts, func(dst, src relay.Stream, moved func(int64)) error {
		// The runtime splices only from one TCP socket to another; the
		// plaintext of a TLS side exists only in user space.
		d, s := pairs.TCPConn(dst), pairs.TCPConn(src)
		if d == nil || s == nil {
			return e.copyBuf(dst, src, moved)
		}
		return readFrom(d, s, moved)
	})
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

// copyBuf moves src to dst through a user-space buffer, reporting every chunk
// it writes. A Read returns as soon as bytes have arrived (from a TLS Stream,
// a record), so unlike a ReadFrom chunk it needs no read deadline for the idle
// timeout to see a trickle; and a write deadline on a tls.Conn would corrupt
// it. Write writes all of buf or fails, so every chunk read is passed on
// before the next Read.
func (e *engine) copyBuf(dst, src relay.Stream, moved func(int64)) error {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
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
	m[CounterReadFromCalls] = e.readFroms.Load()
	m[CounterCopiedBytes] = e.copied.Load()
	return m
}
