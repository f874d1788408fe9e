package relay

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// keepAlive makes a peer that vanished without a FIN or RST (host crash,
// cable pulled, NAT state dropped) surface as an error on the socket within
// about 30 s, even on a connection that is idle by design: control
// connections between heartbeats and pooled data connections.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

func setKeepAlive(c *net.TCPConn) { c.SetKeepAliveConfig(keepAlive) }

// abort closes c with SO_LINGER 0, so the peer sees a reset instead of a
// clean FIN that would make a cut-off exchange look complete.
func abort(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// waitCtx waits for wg until ctx is done and reports whether wg finished.
// Shutdowns use it to let live relays end on their own before closing them.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// sourceAddr is the IP address a connection comes from, IPv4-mapped IPv6
// addresses unmapped, so that one host counts once whichever way it dials.
func sourceAddr(c *net.TCPConn) netip.Addr {
	ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	return ap.Addr().Unmap()
}
