package relay

import (
	"container/list"
	"net"
	"net/netip"
)

// handshakes holds the connections on the server port that have not yet
// proven themselves: control connections until they authenticate, data
// connections until their header verifies. Each holds an fd and a goroutine
// until its handshake deadline, so their number is bounded per source address
// and in all.
//
// At a bound, the oldest connection makes room for the new one, rather than
// the new one being refused. A real client's connection proves itself within
// a round trip or two, so it is almost never the oldest, while junk that says
// nothing, or trickles, ages in place: refusing the newest instead would let
// junk that got there first starve a real client sharing its address (its own
// data connections, when the junk comes from the client's host or its NAT).
// An attacker who wants to displace a real handshake must open as many
// connections as the bound within that handshake's round trip.
//
// It is not safe for concurrent use; the Server guards it with its mu.
type handshakes struct {
	perAddr, total int // the bounds; both at least 1

	all    list.List                 // of *handshake, oldest first
	byAddr map[netip.Addr]*list.List // of *handshake, oldest first, per source address
	byConn map[*net.TCPConn]*handshake
}

type handshake struct {
	c             *net.TCPConn
	addr          netip.Addr
	inAll, inAddr *list.Element
}

func newHandshakes(perAddr, total int) *handshakes {
	return &handshakes{
		perAddr: perAddr,
		total:   total,
		byAddr:  make(map[netip.Addr]*list.List),
		byConn:  make(map[*net.TCPConn]*handshake),
	}
}

// add records c, from addr, and returns the connection it displaced to stay
// within the bounds (nil if none): the oldest from addr when addr has
// perAddr, else the oldest of all when there are total. The caller closes
// the displaced connection; it is no longer recorded.
func (h *handshakes) add(c *net.TCPConn, addr netip.Addr) (displaced *net.TCPConn) {
	mine := h.byAddr[addr]
	switch {
	case mine != nil && mine.Len() >= h.perAddr:
		displaced = mine.Front().Value.(*handshake).c
	case h.all.Len() >= h.total:
		displaced = h.all.Front().Value.(*handshake).c
	}
	if displaced != nil {
		h.remove(displaced)
		mine = h.byAddr[addr] // remove may have dropped an emptied list
	}
	if mine == nil {
		mine = list.New()
		h.byAddr[addr] = mine
	}
	hs := &handshake{c: c, addr: addr}
	hs.inAll = h.all.PushBack(hs)
	hs.inAddr = mine.PushBack(hs)
	h.byConn[c] = hs
	return displaced
}

// remove forgets c and reports whether it was recorded: false when it was
// displaced, or removed before.
func (h *handshakes) remove(c *net.TCPConn) bool {
	hs, ok := h.byConn[c]
	if !ok {
		return false
	}
	delete(h.byConn, c)
	h.all.Remove(hs.inAll)
	mine := h.byAddr[hs.addr]
	mine.Remove(hs.inAddr)
	if mine.Len() == 0 {
		delete(h.byAddr, hs.addr)
	}
	return true
}

// from returns how many connections from addr are recorded.
func (h *handshakes) from(addr netip.Addr) int {
	if l := h.byAddr[addr]; l != nil {
		return l.Len()
	}
	return 0
}

// len returns how many connections are recorded.
func (h *handshakes) len() int { return h.all.Len() }

// conns returns every recorded connection.
func (h *handshakes) conns() []*net.TCPConn {
	out := make([]*net.TCPConn, 0, len(h.byConn))
	for c := range h.byConn {
		out = append(out, c)
	}
	return out
}
