package reactor

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// takeover takes c's socket away from the Go runtime: it duplicates the fd
// with F_DUPFD_CLOEXEC inside SyscallConn().Control, makes sure the duplicate
// is non-blocking, and closes c. The duplicate refers to the same socket (the
// same open file description), so closing c only drops the runtime's fd and
// its poller registration: no FIN, no reset, unread bytes stay queued. From
// here the returned fd is the only one, and closing it ends the connection.
//
// Not (*net.TCPConn).File: that also duplicates the fd, but hands the
// duplicate to an *os.File, which registers it with the runtime's poller, and
// File.Fd() then switches the socket to blocking mode. O_NONBLOCK belongs to
// the file description, so that would make the socket blocking for every fd
// that shares it, ours included.
//
// On failure c is left open for the caller to reset.
func takeover(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl", dupErr)
	}
	// Already so, as the runtime made it non-blocking; said here so that
	// the loop's assumption does not rest on the runtime's.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	c.Close()
	return fd, nil
}

// resetConn closes c with SO_LINGER 0, so its peer sees a reset.
func resetConn(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// resetFD closes fd with SO_LINGER 0, so its peer sees a reset. The linger
// option cannot fail on a live TCP socket; on a dead one the close is all
// that matters.
func resetFD(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}
