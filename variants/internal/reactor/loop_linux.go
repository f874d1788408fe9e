package reactor

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/relay"
)

// eventBatch is how many events one epoll_wait returns at most.
const eventBatch = 256

// wakeFd marks the eventfd's event. Pairs' events carry slot<<1|side in the
// same field, which is never negative.
const wakeFd = -1

// A loop is one event loop: a goroutine locked to its OS thread, its epoll
// instance, an eventfd through which other goroutines hand it work, and the
// pairs it owns. Nothing but the queue (under mu) and the counters is shared.
type loop struct {
	e    *Engine
	epfd int // the epoll instance; closed by Engine.Close after the loop has exited
	evfd int // the eventfd: non-blocking, level-triggered in epfd; closed with epfd
	pool Pool
	c    loopCounters

	// assigned is the pairs handed to this loop and not yet done: the load
	// the engine's placement policy compares.
	assigned atomic.Int64

	mu       sync.Mutex
	incoming []*pair // pairs handed over by Relay, not yet registered
	woken    bool    // an eventfd write is pending that the loop has not yet seen: saves writes
	stopping bool    // Close has asked the loop to stop
	err      error   // the loop died on this error; Relay must not hand it pairs

	exited chan struct{} // closed when run returns, after every done has returned

	// The rest belongs to the loop's goroutine.
	events []unix.EpollEvent
	slots  []slot   // the pair table that events and wheel entries index
	free   []uint32 // free slots, reused last-freed first
	live   int      // registered pairs
	ready  []*pair  // pairs with a direction stopped on its byte cap
	readyB []*pair  // the other half of ready, swapped in by runReady
	ended  []*pair  // pairs that ended in this iteration, waiting for their done
	spare  []*pair  // the other half of incoming, swapped in by takeIncoming
	stop   bool     // stopping, as seen by the loop
	wheel  *wheel   // nil without an idle timeout
	now    int64    // loop clock: ns since the engine's epoch, read after each epoll_wait
}

// A slot holds a registered pair. gen counts how often the slot has been
// freed: an event or a wheel entry made for an earlier pair in the slot
// carries an older generation and is dropped.
type slot struct {
	p   *pair
	gen uint32
}

func newLoop(e *Engine) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeFd}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l := &loop{
		e:      e,
		epfd:   epfd,
		evfd:   evfd,
		pool:   e.newPool(),
		exited: make(chan struct{}),
		events: make([]unix.EpollEvent, eventBatch),
		now:    e.clock(),
	}
	if e.idle > 0 {
		l.wheel = newWheel(e.idle, l.now)
	}
	return l, nil
}

// submit hands p to the loop from any goroutine: append under mu, and write
// the eventfd unless a write is already pending. The queue carries the data;
// the eventfd only wakes the loop (on its own it would be a data race).
func (l *loop) submit(p *pair) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.incoming = append(l.incoming, p)
	l.wakeLocked()
	return nil
}

// requestStop asks the loop to abort its pairs and exit.
func (l *loop) requestStop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopping = true
	l.wakeLocked()
}

// wakeLocked writes the eventfd if no write is pending. It runs under mu, so
// that it never races with the loop's exit: Engine.Close closes the eventfd
// only after the loop has exited.
func (l *loop) wakeLocked() {
	if l.woken {
		return
	}
	l.woken = true
	l.c.wakeups.Add(1)
	one := [8]byte{1} // the eventfd adds this native-endian uint64; only non-zero matters
	// Cannot fail short of a counter near 2^64: the loop reads it at every wake-up.
	unix.Write(l.evfd, one[:])
}

// run is the loop's goroutine. Each iteration: wait (blocking, or not at all
// if a pair has work left from its byte cap, or until the next idle tick when
// an idle timeout is set and pairs are live), dispatch the batch, give the
// capped pairs another turn, sweep the idle wheel, and then, outside all of
// that, call the done functions of the pairs that ended, since a done may
// call Relay and that must only queue work.
func (l *loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.exited)
	for {
		n, err := unix.EpollWait(l.epfd, l.events, l.waitTimeout())
		l.c.epollWaits.Add(1)
		l.now = l.e.clock()
		if err == unix.EINTR {
			// A signal (the Go runtime preempts with them) is not an event.
			continue
		}
		if err != nil {
			// EBADF, EFAULT or EINVAL: the loop itself is broken.
			l.die(os.NewSyscallError("epoll_wait", err))
			return
		}
		l.dispatch(l.events[:n])
		l.runReady()
		if l.wheel != nil {
			l.sweepIdle()
		}
		l.callDone()
		if l.stop {
			l.shutdown(relay.ErrEngineClosed)
			return
		}
	}
}

// waitTimeout is epoll_wait's timeout in ms: 0 while pairs wait on the ready
// list, until the next idle tick while pairs are live and an idle timeout is
// set, else forever.
func (l *loop) waitTimeout() int {
	switch {
	case len(l.ready) > 0:
		return 0
	case l.wheel != nil && l.live > 0:
		d := l.wheel.until(l.now)
		return int((d + 999_999) / 1_000_000) // round up: waking early only loops again
	default:
		return -1
	}
}

// dispatch handles one batch of events in order. The eventfd's event
// registers the queued pairs there and then; a pair handled earlier in the
// batch may have ended and freed its slot and fds, and the new pairs may reuse
// both the slot and the fd numbers (another goroutine's Relay may have
// duplicated the sockets after the fds were closed). Events later in the
// batch for the ended pair carry the slot's old generation and are dropped,
// whatever now sits in the slot.
func (l *loop) dispatch(evs []unix.EpollEvent) {
	l.c.events.Add(uint64(len(evs)))
	for i := range evs {
		ev := &evs[i]
		if ev.Fd == wakeFd {
			l.takeIncoming()
			continue
		}
		s, side := uint32(ev.Fd)>>1, int(ev.Fd&1)
		if int(s) >= len(l.slots) || l.slots[s].p == nil || l.slots[s].gen != uint32(ev.Pad) {
			l.c.stale.Add(1)
			continue
		}
		l.slots[s].p.handle(side, ev.Events)
	}
}

// takeIncoming registers the pairs queued since the last wake-up and notes a
// stop request.
func (l *loop) takeIncoming() {
	var buf [8]byte
	unix.Read(l.evfd, buf[:]) // resets the counter; EAGAIN if there was nothing, which is fine
	l.mu.Lock()
	in := l.incoming
	l.incoming = l.spare[:0]
	l.woken = false
	if l.stopping {
		l.stop = true
	}
	l.mu.Unlock()
	for _, p := range in {
		l.register(p)
	}
	clear(in)
	l.spare = in[:0]
}

// register gives p a slot and adds both sockets to the epoll set,
// edge-triggered, for reading, writing and the peer's FIN, for the pair's
// whole life: readiness is cached in the directions, and backpressure is
// "do not read", so the interest never changes and no epoll_ctl is made per
// chunk. The add reports readiness the sockets already have, such as bytes
// that arrived before Relay, as the first event.
func (l *loop) register(p *pair) {
	p.l = l
	if p.err != nil {
		p.end() // Relay could not take the sockets over
		return
	}
	var s uint32
	if n := len(l.free); n > 0 {
		s = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		s = uint32(len(l.slots))
		l.slots = append(l.slots, slot{})
	}
	l.slots[s].p = p
	p.slot, p.gen, p.registered = s, l.slots[s].gen, true
	p.lastActive = l.now
	l.live++
	for side, fd := range p.fd {
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
			Fd:     int32(s<<1 | uint32(side)),
			Pad:    int32(p.gen),
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			p.abort(os.NewSyscallError("epoll_ctl", err))
			return
		}
	}
	if l.wheel != nil {
		l.wheel.add(wheelEntry{slot: s, gen: p.gen}, p.lastActive+int64(l.e.idle))
	}
}

// release frees p's slot; the generation moves on so that nothing still
// naming the slot reaches the next pair in it.
func (l *loop) release(p *pair) {
	l.slots[p.slot] = slot{gen: p.gen + 1}
	l.free = append(l.free, p.slot)
	l.live--
	p.registered = false
}

// schedule puts p on the ready list, once.
func (l *loop) schedule(p *pair) {
	if !p.ready {
		p.ready = true
		l.ready = append(l.ready, p)
	}
}

// runReady gives every pair that stopped on its byte cap one more turn each
// way. Pairs that stop on the cap again are scheduled for the next iteration,
// after the next epoll_wait (with a zero timeout), so they share the loop
// with the pairs that have events.
func (l *loop) runReady() {
	cur := l.ready
	l.ready = l.readyB[:0]
	for i, p := range cur {
		cur[i] = nil
		p.ready = false
		if !p.ended {
			p.resume()
		}
	}
	l.readyB = cur[:0]
}

// sweepIdle ends the pairs idle for the idle timeout and files the others
// under their new deadlines (see wheel).
func (l *loop) sweepIdle() {
	idle := int64(l.e.idle)
	l.wheel.advance(l.now, func(e wheelEntry) {
		s := l.slots[e.slot]
		if s.p == nil || s.gen != e.gen {
			return // the pair ended; its entry goes with it
		}
		if l.now-s.p.lastActive >= idle {
			s.p.abort(relay.ErrIdleTimeout)
			return
		}
		l.wheel.add(e, s.p.lastActive+idle)
	})
}

// callDone reports the pairs that ended in this iteration. The loop holds no
// lock and is between batches, so a done may call Relay (which only queues),
// though not Close (which waits for this loop). The counters were updated
// when the pair ended, before its done.
func (l *loop) callDone() {
	for i, p := range l.ended {
		l.ended[i] = nil
		l.assigned.Add(-1)
		p.done(p.result())
	}
	l.ended = l.ended[:0]
}

// shutdown aborts every pair the loop has, registered or still queued, with
// err, calls their done functions, and frees the pool. After it the loop
// takes no more work: with err ErrEngineClosed because the engine refuses
// Relay, otherwise because submit returns err.
func (l *loop) shutdown(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	in := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, p := range in {
		l.register(p)
	}
	for _, s := range l.slots {
		if s.p != nil {
			s.p.abort(err)
		}
	}
	l.ready = nil
	l.callDone()
	l.pool.Close()
}

// die stops a loop whose epoll instance failed: its pairs end with the error,
// and so do the pairs Relay picks it for later (see Engine.Relay).
func (l *loop) die(err error) {
	l.e.log.Error("event loop failed; its pairs are reset", "engine", l.e.name, "err", err)
	l.shutdown(err)
}
