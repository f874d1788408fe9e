//go:build unix

package relay

import (
	"errors"
	"net"
	"syscall"
)

// probeIdle reports whether an idle connection is still usable: nothing to
// read yet, no FIN and no reset queued. It peeks without blocking, so it
// catches a peer that closed in the instant before the connection was taken
// from the pool, which the watcher's interrupted read cannot tell apart from
// a clean wake-up.
func probeIdle(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && errors.Is(err, syscall.EAGAIN)
		return true // never wait: this is a probe
	})
	return err == nil && alive
}
