package reactor

// A Conduit holds one direction's bytes in flight, between reading them from
// the source socket and writing them to the destination: a user-space buffer
// for epollcopy (see BufferPool), a pipe for a splice engine. It is the one
// thing an engine built on the reactor supplies; the loop, the pair state
// machine and the idle wheel are shared.
//
// The reactor calls Fill only when the conduit is empty (Len() == 0), so a
// conduit never has to tell "source drained" from "no room", and EOF always
// finds nothing left to write. Both methods are called on the loop's
// goroutine with non-blocking sockets and must not block.
type Conduit interface {
	// Fill reads from the socket fd into the conduit: n > 0 bytes, or
	// (0, nil) at EOF, or unix.EAGAIN when fd has nothing to read now, or
	// any other error as the system call returned it.
	Fill(fd int) (n int, err error)

	// Drain writes what the conduit holds to the socket fd: n >= 0 bytes
	// (fewer than Len() when fd's send buffer filled), or unix.EAGAIN when
	// fd can take nothing now, or any other error.
	Drain(fd int) (n int, err error)

	// Len is the number of bytes held: read and not yet written.
	Len() int
}

// A Pool hands conduits to one loop's directions. A loop has its own, made by
// Config.NewPool, and uses it only from its goroutine, so a pool needs no
// lock.
//
// Ownership: a direction takes a conduit with Get just before it reads, and
// gives it back with Put as soon as everything read has been written (at the
// latest at the end of that turn), so an idle pair holds none. A conduit that
// still holds bytes is only ever Put when its pair has been aborted; a pool
// that cannot empty such a conduit (a pipe) must destroy it rather than hand
// it out again.
type Pool interface {
	Get() (Conduit, error)
	Put(Conduit)

	// Close frees whatever the pool keeps. The loop calls it once, as it
	// stops, after every conduit has been Put.
	Close()

	// AddCounters adds the pool's counters to m (summing with other
	// loops' pools). It is called from any goroutine.
	AddCounters(m map[string]uint64)
}
