package pairs

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// A CopyFunc moves bytes from src to dst until src reaches EOF, and then
// returns nil; it returns any other failure as it is. It calls moved with the
// number of bytes written to dst after every chunk, not only at the end, since
// that is how the Set sees activity for the idle timeout and keeps the byte
// counters current. It must not close, half-close or abort either stream: the
// Set does that. TCPConn tells it when both are plain TCP sockets, which it
// may then copy between in the kernel.
type CopyFunc func(dst, src relay.Stream, moved func(n int64)) error

// TCPConn returns the socket under s if s is a TCP socket that the Set was
// given by Relay, and nil for any Stream given to RelayStreams: a TLS
// Stream's plaintext exists only in user space, and relay.TCPStream does not
// reveal its socket.
func TCPConn(s relay.Stream) *net.TCPConn {
	if t, ok := s.(tcpSide); ok {
		return t.conn
	}
	return nil
}

// tcpSide is a socket given to Relay: relay.TCPStream of it, with the socket
// kept where TCPConn can find it.
type tcpSide struct {
	relay.Stream
	conn *net.TCPConn
}

// SweepInterval is how often the idle sweeper looks at the pairs for a given
// idle timeout: a quarter of it, so a pair ends at most a quarter late, but
// never more often than every 5ms.
func SweepInterval(idle time.Duration) time.Duration {
	return max(idle/4, 5*time.Millisecond)
}

// A Set is the live pairs of one engine. It implements relay.Engine and
// relay.StreamRelayer.
type Set struct {
	copyFn CopyFunc
	idle   time.Duration
	epoch  time.Time // activity times are monotonic nanoseconds since epoch, immune to wall-clock steps

	mu     sync.Mutex
	closed bool
	live   map[*pair]struct{}
	stop   chan struct{}  // closed by Close to stop the sweeper
	wg     sync.WaitGroup // each pair until its done has returned, and the sweeper

	started, done, aToB, bToA, idles, resets atomic.Uint64
}

// New returns a Set that copies each direction with copyFn. When
// opts.IdleTimeout > 0 it starts the sweeper goroutine, which lives until
// Close.
func New(opts relay.Options, copyFn CopyFunc) *Set {
	s := &Set{
		copyFn: copyFn,
		idle:   opts.IdleTimeout,
		epoch:  time.Now(),
		live:   make(map[*pair]struct{}),
		stop:   make(chan struct{}),
	}
	if s.idle > 0 {
		s.wg.Add(1)
		go s.sweep()
	}
	return s
}

// A pair is one relayed connection: a and b, and the two goroutines copying
// between them.
type pair struct {
	set  *Set
	a, b relay.Stream
	done func(relay.Result)

	lastActive atomic.Int64 // Set.now() when a chunk last moved, either way
	running    atomic.Int32 // directions not yet ended; the one that brings it to 0 finishes the pair

	// Each is written only by its own direction's goroutine and read by
	// finish, which runs after both have ended (ordered by running).
	aToB, bToA int64

	mu     sync.Mutex
	err    error // first error of the pair; later ones are consequences of the abort it caused
	closed bool  // a and b have been closed; guarded so each is closed exactly once
}

var _ interface {
	relay.Engine
	relay.StreamRelayer
} = (*Set)(nil)

// Relay implements relay.Engine: it relays a and b as Streams, through which
// the CopyFunc can still reach the sockets with TCPConn.
func (s *Set) Relay(a, b *net.TCPConn, done func(relay.Result)) {
	s.RelayStreams(tcpSide{relay.TCPStream(a), a}, tcpSide{relay.TCPStream(b), b}, done)
}

// RelayStreams implements relay.StreamRelayer. On a closed Set it aborts both
// streams and calls done with ErrEngineClosed before returning; such a call is
// not a pair and changes no counter.
func (s *Set) RelayStreams(a, b relay.Stream, done func(relay.Result)) {
	if done == nil {
		done = func(relay.Result) {}
	}
	p := &pair{set: s, a: a, b: b, done: done}
	p.lastActive.Store(s.now())
	p.running.Store(2)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		reset(a, b)
		done(relay.Result{Err: relay.ErrEngineClosed})
		return
	}
	s.live[p] = struct{}{}
	s.wg.Add(1) // Done after p.done returns, so Close waits for the callback
	s.mu.Unlock()
	s.started.Add(1)

	go p.run(b, a, &p.aToB, &s.aToB)
	go p.run(a, b, &p.bToA, &s.bToA)
}

// run is one direction, src to dst.
func (p *pair) run(dst, src relay.Stream, n *int64, total *atomic.Uint64) {
	s := p.set
	err := s.copyFn(dst, src, func(k int64) {
		*n += k
		total.Add(uint64(k))
		if s.idle > 0 {
			p.lastActive.Store(s.now())
		}
	})
	if err == nil {
		// Everything read before EOF has been written: pass the EOF on and
		// leave the other direction running.
		err = dst.CloseWrite()
	}
	if err != nil {
		p.abort(err)
	}
	if p.running.Add(-1) == 0 {
		p.finish()
	}
}

// abort ends the pair with err unless it already has an error: both peers get
// a reset, and the blocked copy loops fail on the aborted streams. Their errors
// come after err and do not replace it.
func (p *pair) abort(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	if !p.closed {
		p.closed = true
		reset(p.a, p.b)
	}
}

// finish runs once, after both directions have ended.
func (p *pair) finish() {
	s := p.set
	p.mu.Lock()
	err := p.err
	if !p.closed {
		// Both directions saw EOF and passed it on: an orderly close.
		p.closed = true
		p.a.Close()
		p.b.Close()
	}
	p.mu.Unlock()

	s.mu.Lock()
	delete(s.live, p)
	s.mu.Unlock()

	if err != nil {
		s.resets.Add(1)
		if errors.Is(err, relay.ErrIdleTimeout) {
			s.idles.Add(1)
		}
	}
	s.done.Add(1)
	p.done(relay.Result{AtoB: p.aToB, BtoA: p.bToA, Err: err})
	s.wg.Done()
}

// reset aborts both streams (SO_LINGER 0, then close), so each peer sees a
// reset rather than a FIN that could make a cut-off stream look complete.
func reset(a, b relay.Stream) {
	a.Abort()
	b.Abort()
}

func (s *Set) now() int64 { return int64(time.Since(s.epoch)) }

// sweep ends pairs that have been idle longer than the idle timeout. One
// goroutine per engine, rather than a timer per pair, mirrors what a reactor
// does and costs nothing per chunk but an atomic store.
func (s *Set) sweep() {
	defer s.wg.Done()
	tick := time.NewTicker(SweepInterval(s.idle))
	defer tick.Stop()
	var idle []*pair
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		cutoff := s.now() - int64(s.idle)
		s.mu.Lock()
		for p := range s.live {
			if p.lastActive.Load() < cutoff {
				idle = append(idle, p)
			}
		}
		s.mu.Unlock()
		// Abort outside s.mu: finish takes s.mu, and a Close of many sockets
		// should not hold up Relay.
		for i, p := range idle {
			p.abort(relay.ErrIdleTimeout)
			idle[i] = nil
		}
		idle = idle[:0]
	}
}

// Close implements relay.Engine: it aborts every live pair with
// ErrEngineClosed and returns once their done functions have returned and the
// sweeper has stopped. It is safe to call more than once, but not from a done
// function, which Close would then wait for.
func (s *Set) Close() error {
	s.mu.Lock()
	var live []*pair
	if !s.closed {
		s.closed = true
		close(s.stop)
		for p := range s.live {
			live = append(live, p)
		}
	}
	s.mu.Unlock()
	for _, p := range live {
		p.abort(relay.ErrEngineClosed)
	}
	s.wg.Wait()
	return nil
}

// Counters implements relay.Engine with the counters every engine reports.
// The map is new on every call; engines add their own keys to it.
func (s *Set) Counters() map[string]uint64 {
	return map[string]uint64{
		relay.CounterPairsStarted: s.started.Load(),
		relay.CounterPairsDone:    s.done.Load(),
		relay.CounterBytesAtoB:    s.aToB.Load(),
		relay.CounterBytesBtoA:    s.bToA.Load(),
		relay.CounterIdleTimeouts: s.idles.Load(),
		relay.CounterResets:       s.resets.Load(),
	}
}
