package relay

import (
	"net"
	"testing"
	"time"
)

func TestProbeIdle(t *testing.T) {
	for _, c := range []struct {
		name string
		peer func(*net.TCPConn)
		want bool
	}{
		{"alive", func(*net.TCPConn) {}, true},
		{"closed", func(c *net.TCPConn) { c.Close() }, false},
		{"half-closed", func(c *net.TCPConn) { c.CloseWrite() }, false},
		{"reset", func(c *net.TCPConn) { c.SetLinger(0); c.Close() }, false},
		{"sent a byte", func(c *net.TCPConn) { c.Write([]byte{1}) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			peer, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			conn, err := ln.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c.peer(peer)
			// What the peer did reaches conn's socket asynchronously; wait
			// until the probe agrees or a generous deadline passes.
			deadline := time.Now().Add(10 * time.Second)
			got := probeIdle(conn)
			for got != c.want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
				got = probeIdle(conn)
			}
			if got != c.want {
				t.Fatalf("probeIdle = %v, want %v", got, c.want)
			}
		})
	}
}
