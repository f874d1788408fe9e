package relay

import (
	"net"
	"net/netip"
	"testing"
)

// TestHandshakesDisplaceOldest: at a bound the oldest connection makes room,
// from the new one's own address when that address is at its bound, else
// from all.
func TestHandshakesDisplaceOldest(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	conns := make([]*net.TCPConn, 6) // distinct keys; never used as sockets
	for i := range conns {
		conns[i] = new(net.TCPConn)
	}
	h := newHandshakes(2, 3)
	for _, step := range []struct {
		c    int
		from netip.Addr
		want int // index displaced, or -1
	}{
		{0, a, -1},
		{1, b, -1},
		{2, a, -1}, // a at its bound of 2, 3 in all
		{3, a, 0},  // a's oldest, though b's is as old overall
		{4, b, 1},  // all 3 taken, b below its bound: the oldest of all
		{5, b, 2},  // again the oldest of all, which is a's
	} {
		got := h.add(conns[step.c], step.from)
		want := (*net.TCPConn)(nil)
		if step.want >= 0 {
			want = conns[step.want]
		}
		if got != want {
			t.Fatalf("adding %d from %v displaced %p, want %d (%p)", step.c, step.from, got, step.want, want)
		}
	}
	if h.len() != 3 || h.from(a) != 1 || h.from(b) != 2 {
		t.Errorf("held %d, %d from a, %d from b; want 3, 1, 2", h.len(), h.from(a), h.from(b))
	}
	if h.remove(conns[0]) {
		t.Error("removing a displaced connection reported it held")
	}
	for _, i := range []int{3, 4, 5} {
		if !h.remove(conns[i]) {
			t.Errorf("connection %d was not held", i)
		}
	}
	if h.len() != 0 || len(h.byAddr) != 0 {
		t.Errorf("after removing all: %d held, %d addresses remembered", h.len(), len(h.byAddr))
	}
}
