package relay

import (
	"net"
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
