package reactor

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DefaultBufferSize is the size of one copy buffer: as much as one read(2)
// takes from a socket. 64 KiB is a full loopback segment and what gocopybuf
// uses, so the two copy engines differ in how they wait, not in chunk size.
const DefaultBufferSize = 64 << 10

// maxFreeBuffers is how many emptied buffers a loop keeps for reuse; more go
// to the garbage collector. A steady stream needs one per busy direction at a
// time; a burst of backpressured pairs may hold many, and should not pin them
// once it is over.
const maxFreeBuffers = 8

// A BufferPool is one loop's user-space copy buffers: the conduit of
// epollcopy, and the fallback of a splice engine. Every byte that goes
// through it is read(2) into a buffer and write(2) out of it.
type BufferPool struct {
	size int
	free []*bufConduit // emptied buffers, owned by the pool until the next Get

	reads, writes, copied atomic.Uint64
	inUse                 atomic.Int64 // buffers out of the pool: taken by Get, not yet Put
}

// NewBufferPool returns a pool of buffers of size bytes each.
func NewBufferPool(size int) *BufferPool {
	return &BufferPool{size: size}
}

// A bufConduit is a buffer and the part of it still to write, buf[off:end].
type bufConduit struct {
	p        *BufferPool
	buf      []byte
	off, end int
}

// Get implements Pool: an emptied buffer if one is kept, else a new one.
// From here until Put the buffer belongs to the direction that took it.
func (p *BufferPool) Get() (Conduit, error) {
	p.inUse.Add(1)
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return c, nil
	}
	return &bufConduit{p: p, buf: make([]byte, p.size)}, nil
}

// Put implements Pool. Bytes left in a buffer (an aborted pair) are simply
// forgotten: a buffer is reusable whatever it held.
func (p *BufferPool) Put(c Conduit) {
	p.inUse.Add(-1)
	b := c.(*bufConduit)
	b.off, b.end = 0, 0
	if len(p.free) < maxFreeBuffers {
		p.free = append(p.free, b)
	}
}

// Close implements Pool: the kept buffers go to the garbage collector.
func (p *BufferPool) Close() {
	clear(p.free)
	p.free = nil
}

// AddCounters implements Pool.
func (p *BufferPool) AddCounters(m map[string]uint64) {
	m[CounterReadCalls] += p.reads.Load()
	m[CounterWriteCalls] += p.writes.Load()
	m[CounterCopiedBytes] += p.copied.Load()
	m[CounterBuffersInUse] += uint64(max(p.inUse.Load(), 0))
}

// Fill implements Conduit with one read(2) into the whole buffer, which is
// empty (see Conduit).
func (c *bufConduit) Fill(fd int) (int, error) {
	c.p.reads.Add(1)
	n, err := unix.Read(fd, c.buf)
	if err != nil {
		return 0, err
	}
	c.off, c.end = 0, n
	return n, nil
}

// Drain implements Conduit with one write(2) of what is left.
func (c *bufConduit) Drain(fd int) (int, error) {
	c.p.writes.Add(1)
	n, err := unix.Write(fd, c.buf[c.off:c.end])
	if err != nil {
		return 0, err
	}
	c.off += n
	c.p.copied.Add(uint64(n))
	return n, nil
}

// Len implements Conduit.
func (c *bufConduit) Len() int { return c.end - c.off }
