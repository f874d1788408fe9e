package epollsplice

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

// spliceFlags: never block the loop's thread, and move page references
// rather than copy where the kernel can.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

// maxFreePipes is how many emptied pipes a loop keeps for reuse (two fds
// each); more are closed. A steady stream needs one per busy direction.
const maxFreePipes = 8

// retryAfter is how long a loop copies after a pipe could not be sized
// before it tries to make a pipe again: pipe shortage is per user and lasts
// until other pipes are freed, and a failed try costs three system calls.
const retryAfter = time.Second

// errEmptyPipe is a splice out of a pipe that holds bytes moving none, which
// the kernel should never do; the pair is reset rather than spun on.
var errEmptyPipe = errors.New("epollsplice: splice from a pipe holding bytes moved nothing")

// A pipeAllocator makes a non-blocking, close-on-exec pipe and asks for size
// bytes of capacity. It returns the pipe's fds even when sizing it failed, so
// that the caller closes them; the caller checks the size it got with
// F_GETPIPE_SZ. newPipe is the real one; tests fake a shortage.
type pipeAllocator func(size int) (r, w int, err error)

// newPipe is pipe2 plus F_SETPIPE_SZ. For an unprivileged user over
// fs.pipe-user-pages-soft, pipe2 silently gives a one-page pipe and
// F_SETPIPE_SZ fails with EPERM.
func newPipe(size int) (r, w int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, size); err != nil {
		return fds[0], fds[1], os.NewSyscallError("fcntl F_SETPIPE_SZ", err)
	}
	return fds[0], fds[1], nil
}

// A pipePool is one loop's pipes, and the copy buffers it falls back to. It
// is used only from its loop's goroutine (see reactor.Pool), except for the
// counters.
//
// Ownership of a pipe: the pool owns the pipes on free. Get hands one to a
// direction, which owns it (with the bytes parked in it) until it Puts it
// back, as soon as the pipe is empty or when its pair ends. Put keeps an
// empty pipe on free (or closes it if free is full); a pipe that still holds
// bytes (an aborted pair) is closed there and then, since its bytes belong
// to a dead connection and would otherwise be spliced into the next one.
// Close closes what is on free. Every pipe fd is thus closed exactly once, by
// Put or Close.
type pipePool struct {
	size  int // bytes asked of each pipe with F_SETPIPE_SZ
	alloc pipeAllocator
	warn  *fallbackLog
	free  []*pipeConduit

	// copy is the fallback: while no full-size pipe can be made, Get hands
	// out its buffers instead, until retry.
	copy  *reactor.BufferPool
	retry time.Time // zero while pipes can be made

	spliceIn, spliceOut, spliced, fallbacks atomic.Uint64
	inUse                                   atomic.Int64 // pipes taken by Get and not yet Put
}

func newPipePool(size int, alloc pipeAllocator, warn *fallbackLog) *pipePool {
	return &pipePool{
		size:  size,
		alloc: alloc,
		warn:  warn,
		copy:  reactor.NewBufferPool(reactor.DefaultBufferSize),
	}
}

// A pipeConduit is one pipe and the count of bytes parked in it: spliced in
// from the source and not yet spliced out to the destination.
type pipeConduit struct {
	p      *pipePool
	r, w   int // the pipe's ends, -1 once closed
	parked int
}

// Get implements reactor.Pool: a kept pipe, else a new one, else (no pipe of
// the asked size could be made) a copy buffer.
func (p *pipePool) Get() (reactor.Conduit, error) {
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.inUse.Add(1)
		return c, nil
	}
	if p.retry.IsZero() || time.Now().After(p.retry) {
		c, err := p.make()
		if err == nil {
			p.retry = time.Time{}
			p.inUse.Add(1)
			return c, nil
		}
		p.retry = time.Now().Add(retryAfter)
	}
	p.fallbacks.Add(1)
	return p.copy.Get()
}

// make allocates a pipe and checks its size. It decides splice or copy: a
// pipe that could not be sized (EPERM) or is smaller than asked (one page,
// for a user over the soft limit) would make splice crawl, so it is closed
// and make fails; the first failure is logged.
func (p *pipePool) make() (*pipeConduit, error) {
	r, w, err := p.alloc(p.size)
	got := 0
	if err == nil {
		got, err = unix.FcntlInt(uintptr(w), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			err = os.NewSyscallError("fcntl F_GETPIPE_SZ", err)
		} else if got < p.size {
			err = errSmallPipe
		}
	}
	if err != nil {
		closeFD(r)
		closeFD(w)
		p.warn.warn(p.size, got, err)
		return nil, err
	}
	return &pipeConduit{p: p, r: r, w: w}, nil
}

var errSmallPipe = errors.New("epollsplice: pipe smaller than asked")

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// Put implements reactor.Pool. A copy buffer goes back to the fallback pool;
// a pipe is kept if empty and there is room, else closed (see pipePool).
func (p *pipePool) Put(c reactor.Conduit) {
	pc, ok := c.(*pipeConduit)
	if !ok {
		p.copy.Put(c)
		return
	}
	p.inUse.Add(-1)
	if pc.parked == 0 && len(p.free) < maxFreePipes {
		p.free = append(p.free, pc)
		return
	}
	pc.close()
}

// Close implements reactor.Pool: the kept pipes are closed.
func (p *pipePool) Close() {
	for _, c := range p.free {
		c.close()
	}
	clear(p.free)
	p.free = nil
	p.copy.Close()
}

// AddCounters implements reactor.Pool: the splice counters and the fallback's.
func (p *pipePool) AddCounters(m map[string]uint64) {
	m[CounterSpliceInCalls] += p.spliceIn.Load()
	m[CounterSpliceOutCalls] += p.spliceOut.Load()
	m[CounterSplicedBytes] += p.spliced.Load()
	m[CounterCopyFallbacks] += p.fallbacks.Load()
	m[CounterPipesInUse] += uint64(max(p.inUse.Load(), 0))
	p.copy.AddCounters(m)
}

// close closes both ends of the pipe, and with them any bytes parked in it.
func (c *pipeConduit) close() {
	closeFD(c.r)
	closeFD(c.w)
	c.r, c.w, c.parked = -1, -1, 0
}

// Fill implements reactor.Conduit with one splice(2) from the socket into the
// pipe, asking for as much as the pipe has room for. The reactor fills only
// an empty conduit, so the pipe has all its room and EAGAIN means the socket
// is empty, never that the pipe is full.
func (c *pipeConduit) Fill(fd int) (int, error) {
	c.p.spliceIn.Add(1)
	n, err := unix.Splice(fd, nil, c.w, nil, c.p.size-c.parked, spliceFlags)
	if err != nil {
		return 0, err
	}
	c.parked += int(n)
	return int(n), nil
}

// Drain implements reactor.Conduit with one splice(2) of what is parked from
// the pipe into the socket.
func (c *pipeConduit) Drain(fd int) (int, error) {
	c.p.spliceOut.Add(1)
	n, err := unix.Splice(c.r, nil, fd, nil, c.parked, spliceFlags)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errEmptyPipe
	}
	c.parked -= int(n)
	c.p.spliced.Add(uint64(n))
	return int(n), nil
}

// Len implements reactor.Conduit: the bytes parked in the pipe.
func (c *pipeConduit) Len() int { return c.parked }
