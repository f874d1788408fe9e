package reactor

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/relay"
)

// An event for a pair that ended earlier in the same batch must not reach the
// pair registered after it, even when that pair got the same slot and the
// same fd numbers. The test drives one loop by hand through the batch
//
//	[P1's a: reset] [eventfd: P2 queued] [P1's b: readable, writable]
//
// The first event ends P1, freeing its slot and closing its fds. Then, as if
// another goroutine's Relay ran at that moment, P2's sockets are duplicated
// onto the fd numbers P1 just closed, and P2 is queued; the eventfd event
// registers it in P1's old slot. The last event is P1's, stale: delivered to
// P2 it would set P2 readable and make it read (an EAGAIN read). It must be
// dropped and counted instead, and P2 must then relay normally.
func TestStaleEventAfterReuse(t *testing.T) {
	e, err := newEngine(relay.Options{}, Config{Name: "test", Loops: 1, NewPool: bufferPool})
	if err != nil {
		t.Fatal(err)
	}
	l := e.loops[0]
	running := false
	t.Cleanup(func() {
		if running {
			e.Close()
			return
		}
		l.shutdown(relay.ErrEngineClosed)
		e.closeFDs()
	})

	// P1, registered.
	c1, a1 := tcpConn(t)
	_, b1 := tcpConn(t)
	done1, res1 := reporter()
	p1 := takenPair(t, a1, b1, done1)
	if err := l.submit(p1); err != nil {
		t.Fatal(err)
	}
	l.dispatch([]unix.EpollEvent{{Events: unix.EPOLLIN, Fd: wakeFd}})
	if !p1.registered {
		t.Fatal("P1 not registered")
	}
	oldFD, oldSlot, oldGen := p1.fd, p1.slot, p1.gen

	// C1 resets; wait (bounded) until a1's socket has the reset.
	c1.SetLinger(0)
	c1.Close()
	pfd := []unix.PollFd{{Fd: int32(oldFD[0]), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, int(patience.Milliseconds())); err != nil || n != 1 {
		t.Fatalf("poll for the reset: n %d, err %v", n, err)
	}

	// P2's sockets, accepted before P1's fds are freed so that these take
	// other numbers.
	c3, a2 := tcpConn(t)
	c4, b2 := tcpConn(t)
	done2, res2 := reporter()

	batch := []unix.EpollEvent{
		{Events: unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLRDHUP, Fd: int32(oldSlot << 1), Pad: int32(oldGen)},
		{Events: unix.EPOLLIN, Fd: wakeFd},
		{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(oldSlot<<1 | 1), Pad: int32(oldGen)},
	}
	l.dispatch(batch[:1])
	if !p1.ended {
		t.Fatal("P1 did not end on its reset")
	}

	// Another goroutine's Relay, between two events of the batch: its
	// duplicates land on the fd numbers P1 just closed. F_DUPFD takes the
	// lowest free number, which is P1's only if no lower one is free, so
	// wherever they landed they are moved onto exactly P1's numbers.
	for _, fd := range oldFD {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
			t.Fatalf("fd %d still open after P1 ended (F_GETFD: %v)", fd, err)
		}
	}
	p2 := takenPair(t, a2, b2, done2)
	for i, fd := range p2.fd {
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 1000)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		p2.fd[i] = high
	}
	for i, fd := range p2.fd {
		if err := unix.Dup3(fd, oldFD[i], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		p2.fd[i] = oldFD[i]
	}
	if err := l.submit(p2); err != nil {
		t.Fatal(err)
	}
	staleBefore, eagainBefore := l.c.stale.Load(), l.c.eagainReads.Load()
	l.dispatch(batch[1:])

	if !p2.registered || p2.slot != oldSlot || p2.fd != oldFD {
		t.Fatalf("P2 registered %v in slot %d with fds %v; want slot %d and fds %v, the reuse under test", p2.registered, p2.slot, p2.fd, oldSlot, oldFD)
	}
	if p2.gen == oldGen {
		t.Errorf("P2 has P1's generation %d", oldGen)
	}
	if got := l.c.stale.Load() - staleBefore; got != 1 {
		t.Errorf("stale_events grew by %d, want 1", got)
	}
	if got := l.c.eagainReads.Load() - eagainBefore; got != 0 {
		t.Errorf("P2 read %d times on P1's stale event", got)
	}
	for i, d := range p2.dir {
		if d.readable || d.writable {
			t.Errorf("P2 direction %d marked readable %v, writable %v by P1's stale event", i, d.readable, d.writable)
		}
	}

	l.callDone()
	if r := result(t, res1); !errors.Is(r.Err, syscall.ECONNRESET) {
		t.Errorf("P1 Result.Err = %v, want ECONNRESET", r.Err)
	}

	// P2 works: bytes each way, then a clean end.
	running = true
	go l.run()
	for _, dir := range []struct{ from, to *net.TCPConn }{{from: c3, to: c4}, {from: c4, to: c3}} {
		if _, err := dir.from.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(dir.to, buf); err != nil || string(buf) != "after" {
			t.Fatalf("P2 relayed %q, %v", buf, err)
		}
	}
	c3.CloseWrite()
	c4.CloseWrite()
	if r := result(t, res2); r.Err != nil || r.AtoB != 5 || r.BtoA != 5 {
		t.Errorf("P2 Result %+v, want 5 bytes each way and no error", r)
	}
}

// takenPair takes a and b over as Relay does, into an unregistered pair.
func takenPair(t *testing.T, a, b *net.TCPConn, done func(relay.Result)) *pair {
	t.Helper()
	p := &pair{fd: [2]int{-1, -1}, done: done}
	for i, c := range []*net.TCPConn{a, b} {
		fd, err := takeover(c)
		if err != nil {
			t.Fatal(err)
		}
		p.fd[i] = fd
	}
	return p
}
