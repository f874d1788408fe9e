package relay_test

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// waitFINAcked waits until the peer's kernel has acknowledged our FIN on c
// (state FIN_WAIT2 or later, or LAST_ACK when the peer closed first), so the
// peer's socket already reads EOF even if its process has not looked yet.
func waitFINAcked(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		var state uint8
		err := rc.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				state = info.State
			}
		})
		if err != nil || state == 0 {
			return // closed already
		}
		switch state {
		case unix.BPF_TCP_FIN_WAIT2, unix.BPF_TCP_TIME_WAIT, unix.BPF_TCP_CLOSE, unix.BPF_TCP_LAST_ACK:
			return
		}
		time.Sleep(time.Millisecond)
	}
}
