package reactor

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/relay"
)

// A pair is one relayed connection, owned by one loop. Relay fills in fd (or
// err) and done, and hands the pair to the loop through its queue; from then
// on every field is read and written only on the loop's goroutine.
type pair struct {
	l    *loop
	fd   [2]int       // a, b: our duplicates, -1 once closed (each closed exactly once, by end)
	dir  [2]direction // dir[0] is a→b, dir[1] is b→a: dir[i] reads fd[i] and writes fd[1-i]
	done func(relay.Result)
	err  error // the first error, set once; later ones are consequences of the abort it caused

	slot, gen  uint32 // the pair's slot in l.slots and the slot's generation while registered
	registered bool
	lastActive int64 // loop clock (ns) when a byte last moved either way
	ready      bool  // on l.ready: a direction stopped on its byte cap with more to read
	ended      bool  // end has run: sockets closed, slot freed, done pending or called
}

// A direction's state is derived from its fields; docs/engines.md draws the
// machine:
//
//	reading          c empty or nil: reads src while readable, up to the byte cap
//	writing-pending  c holds bytes and !writable: waits for EPOLLOUT, does not read src
//	eof-sent         shut: read EOF with nothing pending, sent shutdown(dst, SHUT_WR)
//	done             eof-sent, or the pair ended (any error aborts both directions)
type direction struct {
	// c holds the bytes read from src and not yet written to dst. It is
	// taken from the loop's pool just before a read and given back as soon
	// as it is empty (at the latest at the end of the turn) or when the pair
	// ends: an idle direction holds nothing.
	c Conduit

	// Edge-triggered readiness, cached: readable is set by an event on src
	// and cleared only by a read returning EAGAIN; writable is set by an
	// event on dst and cleared only by a write returning EAGAIN.
	readable, writable bool

	shut bool  // eof-sent
	n    int64 // bytes written to dst
}

// handle takes one event for the socket fd[side]. The order of checks:
//
//   - Writable first: the direction writing into this socket drains what it
//     holds before anything else reads, so the bytes go out in order, its
//     conduit goes back to the pool, and the source that backpressure had
//     paused is read again in the same turn.
//   - Readable second: the direction reading this socket reads until EAGAIN,
//     EOF or its byte cap. EPOLLRDHUP, EPOLLHUP and EPOLLERR also count as
//     readable: the bytes before a FIN or a reset are still in the socket,
//     and the read that follows them returns the EOF or the error itself.
//   - Hang-up last: an error the reads and writes above did not meet (the
//     source reset while its direction waits, backpressured, for the other
//     side) is fetched with SO_ERROR and aborts the pair.
//
// A direction that stopped on its byte cap with more to read is put on the
// loop's ready list: under edge triggering no new event would come for bytes
// that are already there.
func (p *pair) handle(side int, ev uint32) {
	into, from := 1-side, side // dir[into] writes fd[side]; dir[from] reads it
	more := false
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		p.dir[into].writable = true
		more = p.turn(into)
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		p.dir[from].readable = true
		if p.turn(from) {
			more = true
		}
	}
	if ev&unix.EPOLLERR != 0 && !p.ended {
		if soerr, err := unix.GetsockoptInt(p.fd[side], unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
			p.abort(os.NewSyscallError("SO_ERROR", unix.Errno(soerr)))
		}
	}
	if more && !p.ended {
		p.l.schedule(p)
	}
}

// resume gives both directions another turn: the pair was on the ready list.
func (p *pair) resume() {
	more := p.turn(0)
	if p.turn(1) {
		more = true
	}
	if more && !p.ended {
		p.l.schedule(p)
	}
}

// turn moves bytes in direction i until it would block, reaches EOF, fails,
// or has read the loop's byte cap. It reports whether it stopped on the cap
// with the source still readable, so that the loop comes back to it.
//
// Only an empty conduit is filled, so at most one conduit's worth is in
// flight per direction: a slow reader holds up its writer at that, and the
// sockets' own buffers, never more. The cap is checked before each read and
// the conduit is always emptied, so a turn moves at most the cap plus one
// conduit.
func (p *pair) turn(i int) (more bool) {
	d := &p.dir[i]
	if p.ended || d.shut {
		return false
	}
	l := p.l
	src, dst := p.fd[i], p.fd[1-i]
	budget := l.e.budget
	for {
		if d.c != nil && d.c.Len() > 0 {
			if !d.writable {
				return false // writing-pending: EPOLLOUT on dst resumes it
			}
			n, err := d.c.Drain(dst)
			if n > 0 {
				p.moved(i, n)
			}
			switch {
			case err == nil, err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				d.writable = false
				l.c.eagainWrites.Add(1)
				return false
			default:
				p.abort(os.NewSyscallError("write", err))
				return false
			}
		}
		// Everything read has been written: the conduit goes back.
		if d.c != nil {
			l.pool.Put(d.c)
			d.c = nil
		}
		if !d.readable {
			return false
		}
		if budget <= 0 {
			l.c.budgetYields.Add(1)
			return true
		}
		c, err := l.pool.Get()
		if err != nil {
			p.abort(err)
			return false
		}
		d.c = c
		n, err := c.Fill(src)
		switch {
		case n > 0:
			budget -= n
			p.lastActive = l.now
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			d.readable = false
			l.c.eagainReads.Add(1)
		case err == nil:
			// EOF, with nothing pending: pass it on.
			l.pool.Put(c)
			d.c = nil
			if err := unix.Shutdown(dst, unix.SHUT_WR); err != nil {
				p.abort(os.NewSyscallError("shutdown", err))
				return false
			}
			d.shut = true
			if p.dir[1-i].shut {
				p.end()
			}
			return false
		default:
			p.abort(os.NewSyscallError("read", err))
			return false
		}
	}
}

// moved accounts n bytes written in direction i.
func (p *pair) moved(i, n int) {
	p.dir[i].n += int64(n)
	p.lastActive = p.l.now
	if i == 0 {
		p.l.c.aToB.Add(uint64(n))
	} else {
		p.l.c.bToA.Add(uint64(n))
	}
}

// abort ends the pair with err (unless it has ended already): both sockets
// are reset.
func (p *pair) abort(err error) {
	if p.ended {
		return
	}
	if p.err == nil {
		p.err = err
	}
	p.end()
}

// end finishes the pair, exactly once: with an error both sockets are closed
// with SO_LINGER 0, else (both directions eof-sent) closed plainly. Closing
// the only fd of a socket also removes it from the epoll set, so events
// already in this batch are the only stale ones; their generation no longer
// matches. The conduits go back to the pool, the slot is freed, and the pair
// waits on l.ended for its done, which the loop calls after the batch.
func (p *pair) end() {
	p.ended = true
	l := p.l
	for i := range p.dir {
		if c := p.dir[i].c; c != nil {
			l.pool.Put(c)
			p.dir[i].c = nil
		}
	}
	for i, fd := range p.fd {
		if fd < 0 {
			continue
		}
		if p.err != nil {
			resetFD(fd)
		} else {
			unix.Close(fd)
		}
		p.fd[i] = -1
	}
	if p.registered {
		l.release(p)
	}
	l.c.pairsDone.Add(1)
	if p.err != nil {
		l.c.resets.Add(1)
		if errors.Is(p.err, relay.ErrIdleTimeout) {
			l.c.idles.Add(1)
		}
	}
	l.ended = append(l.ended, p)
}

// result is what done reports.
func (p *pair) result() relay.Result {
	return relay.Result{AtoB: p.dir[0].n, BtoA: p.dir[1].n, Err: p.err}
}
