package pairs

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A watcher is an epoll instance holding the sockets of live pairs (those
// older than the Set's watch delay) with an interest mask of EPOLLET alone:
// epoll reports EPOLLERR and EPOLLHUP whatever the mask, and nothing else is
// asked for, so bytes moving raise no event and the watcher sleeps while
// pairs relay. Each socket is added once and never removed: closing a
// socket removes it from every epoll set, and no socket is closed before its
// pair has been marked ended.
//
// The epoll fd is non-blocking and handed to the Go runtime as an *os.File,
// so its readiness (an event waiting in the set) wakes the watcher goroutine
// through the runtime's own netpoller: no thread blocks in epoll_wait, and
// closing the file stops the goroutine. run waits through the file's
// RawConn; watch uses the fd number directly, which is safe because the Set
// closes the watcher only after every pair has ended, and a pair is watched
// under its lock and only while it has not.
type watcher struct {
	f      *os.File
	rc     syscall.RawConn
	epfd   int
	events atomic.Uint64 // events taken, hang-ups included: the watcher's cost
}

func newWatcher() (*watcher, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking before NewFile, which then registers it with the
	// runtime's poller; epoll_wait itself is always called with timeout 0.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "pairs-watcher")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &watcher{f: f, rc: rc, epfd: fd}, nil
}

// watch adds each socket of socks under key(id, side) and reports how many it
// could not add: nil ones, ones already closed, and any epoll_ctl refused
// (ENOSPC when fs.epoll.max_user_watches is reached).
func (w *watcher) watch(id uint64, socks [2]*net.TCPConn) (failed int) {
	// One epollAdd and one method value serve both sockets, where a
	// closure per socket would cost more allocations.
	a := &epollAdd{epfd: w.epfd}
	add := a.control
	for side, c := range socks {
		if c == nil {
			failed++
			continue
		}
		k := key(id, side)
		a.ev = unix.EpollEvent{Events: unix.EPOLLET, Fd: int32(uint32(k)), Pad: int32(uint32(k >> 32))}
		a.err = nil
		rc, err := c.SyscallConn()
		if err == nil {
			// Control fails if the socket is closed: Close has aborted
			// the pair already.
			err = rc.Control(add)
		}
		if err != nil || a.err != nil {
			failed++
		}
	}
	return failed
}

// epollAdd is one EPOLL_CTL_ADD, a method so that RawConn.Control, which
// holds the socket open meanwhile, can run it.
type epollAdd struct {
	epfd int
	ev   unix.EpollEvent
	err  error
}

func (a *epollAdd) control(fd uintptr) {
	a.err = unix.EpollCtl(a.epfd, unix.EPOLL_CTL_ADD, int(fd), &a.ev)
}

// run waits for events until the watcher is closed and passes each socket
// with EPOLLERR to report, by its key. EPOLLHUP alone is no error: it comes
// when both directions of a socket have ended cleanly, FIN in and FIN out,
// which a pair still delivering the other way sees on its way to an orderly
// end.
func (w *watcher) run(report func(id uint64, side int)) {
	events := make([]unix.EpollEvent, 64)
	for {
		var n int
		var werr error
		err := w.rc.Read(func(epfd uintptr) bool {
			for {
				n, werr = unix.EpollWait(int(epfd), events, 0)
				if werr != unix.EINTR {
					break
				}
			}
			// Nothing ready: wait for the runtime to see the fd readable.
			// The ready list is emptied before that, since an event left
			// in it raises no new edge.
			return werr != nil || n > 0
		})
		if err != nil || werr != nil {
			return // closed; any other failure would be a bug in the fd's use
		}
		for _, ev := range events[:n] {
			if ev.Events&unix.EPOLLERR != 0 {
				k := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
				report(k>>1, int(k&1))
			}
		}
		w.events.Add(uint64(n))
	}
}

// taken returns how many events run has taken.
func (w *watcher) taken() uint64 { return w.events.Load() }

// close stops run. The fd is closed once run has left epoll_wait, which also
// drops every socket still in the set.
func (w *watcher) close() { w.f.Close() }

// key is how an event names its socket: the pair's id, never reused in a
// Set, and the side. A socket's fd number can be reused as soon as it is
// closed; an id cannot, so an event for a pair that has ended finds no pair.
func key(id uint64, side int) uint64 { return id<<1 | uint64(side) }

// takeSocketError returns and clears c's pending error (SO_ERROR), or nil if
// it has none or is closed.
func takeSocketError(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var soerr int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		soerr, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	}); err != nil || gerr != nil || soerr == 0 {
		return nil
	}
	return os.NewSyscallError("SO_ERROR", unix.Errno(soerr))
}
