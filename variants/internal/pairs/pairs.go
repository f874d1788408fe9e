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
// Stream's plaintext exists only in user space, and the socket a Stream
// names as a relay.SocketStream is for watching, not for moving bytes (a
// paced Stream's bytes must go through its buckets).
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

// socket returns the TCP socket under s for the watcher, which only asks it
// for errors, or nil if s does not name one.
func socket(s relay.Stream) *net.TCPConn {
	switch s := s.(type) {
	case tcpSide:
		return s.conn
	case relay.SocketStream:
		return s.Socket()
	}
	return nil
}

// WatchDelay is how long a pair relays before the watcher takes its
// sockets. Most pairs end sooner and never cost the watcher anything (two
// epoll_ctl calls, and the hang-ups of a clean end); a pair stuck as the
// package doc describes lives longer, and adding a socket reports an error
// already pending, so a reset ends it at most WatchDelay after the pair
// started.
const WatchDelay = time.Second

// Counter names the Set adds to the common ones, for the watcher.
const (
	// CounterWatchedSockets counts sockets the watcher took: two for
	// each pair that lived longer than WatchDelay.
	CounterWatchedSockets = "watched_sockets"
	// CounterUnwatchedSockets counts sockets the watcher could not take
	// (a Stream that names no socket; epoll_ctl refused, e.g. at
	// fs.epoll.max_user_watches; no watcher on this OS). A reset on one
	// is seen only when a copy reads or writes it.
	CounterUnwatchedSockets = "unwatched_sockets"
	// CounterWatcherEvents counts the events the watcher took, the
	// hang-ups of watched pairs ending cleanly included.
	CounterWatcherEvents = "watcher_events"
	// CounterWatcherResets counts pairs the watcher ended: a socket had an
	// error (a peer's reset) that none of the pair's copies had met.
	CounterWatcherResets = "watcher_resets"
)

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

	watch      *watcher      // the sockets of pairs older than watchDelay, for errors no copy meets
	watchDelay time.Duration // WatchDelay; tests may set it before the first pair

	mu     sync.Mutex
	closed bool
	nextID uint64           // the id of the next pair; ids are never reused
	live   map[uint64]*pair // by id
	stop   chan struct{}    // closed by Close to stop the sweeper
	wg     sync.WaitGroup   // each pair until its done has returned, and the sweeper
	// watcherDone is closed when the watcher goroutine has returned.
	// Close stops the watcher only after wg: a pair's sockets are added
	// to it while the pair holds wg, so the watcher outlives every use.
	watcherDone chan struct{}

	started, done, aToB, bToA, idles, resets atomic.Uint64
	watched, unwatched, watcherResets        atomic.Uint64
}

// New returns a Set that copies each direction with copyFn. It starts the
// watcher goroutine and, when opts.IdleTimeout > 0, the sweeper goroutine;
// both live until Close. It fails only if the watcher's epoll instance
// cannot be made (on Linux; elsewhere there is no watcher).
func New(opts relay.Options, copyFn CopyFunc) (*Set, error) {
	w, err := newWatcher()
	if err != nil {
		return nil, err
	}
	s := &Set{
		copyFn:      copyFn,
		idle:        opts.IdleTimeout,
		epoch:       time.Now(),
		watch:       w,
		watchDelay:  WatchDelay,
		nextID:      1,
		live:        make(map[uint64]*pair),
		stop:        make(chan struct{}),
		watcherDone: make(chan struct{}),
	}
	go func() {
		defer close(s.watcherDone)
		w.run(s.socketError)
	}()
	if s.idle > 0 {
		s.wg.Add(1)
		go s.sweep()
	}
	return s, nil
}

// A pair is one relayed connection: a and b, and the two goroutines copying
// between them.
type pair struct {
	set        *Set
	id         uint64
	a, b       relay.Stream
	done       func(relay.Result)
	watchTimer *time.Timer // takes the sockets to the watcher after watchDelay; stopped by finish

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
	p.id = s.nextID
	s.nextID++
	s.live[p.id] = p
	s.wg.Add(1) // Done after p.done returns, so Close waits for the callback
	s.mu.Unlock()
	s.started.Add(1)

	// Watched only once live, so that an error the watcher reports finds
	// the pair. A timer costs no syscall, and finish stops it.
	if s.watchDelay > 0 {
		p.watchTimer = time.AfterFunc(s.watchDelay, p.watch)
	} else {
		p.watch()
	}

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
	if err == nil && !p.aborted() {
		// Everything read before EOF has been written: pass the EOF on and
		// leave the other direction running. Unless the pair has been
		// aborted: then this EOF may be a reset whose error the watcher
		// took (see socketError), and passing it on as a FIN would make a
		// cut-off stream look complete.
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
	p.abortLocked(err)
}

// abortLocked is abort with p.mu held.
func (p *pair) abortLocked(err error) {
	if p.err == nil {
		p.err = err
	}
	if !p.closed {
		p.closed = true
		reset(p.a, p.b)
	}
}

// watch gives the pair's sockets to the watcher unless the pair has been
// aborted or closed. p.mu, held throughout, keeps the sockets open and the
// pair from finishing, so Close, which waits for every pair to finish
// before it closes the watcher, cannot close it meanwhile.
func (p *pair) watch() {
	s := p.set
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	failed := s.watch.watch(p.id, [2]*net.TCPConn{socket(p.a), socket(p.b)})
	s.watched.Add(uint64(2 - failed))
	s.unwatched.Add(uint64(failed))
}

// aborted reports whether the pair has been aborted.
func (p *pair) aborted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// socketError is the watcher's report that socket side of pair id has an
// error pending: a reset, say, on a socket none of the pair's copies is
// reading or writing. It aborts the pair with that error.
//
// Taking the error with SO_ERROR clears it, and a read of a reset socket
// whose error is cleared returns EOF, which a copy would pass on as a clean
// end. So the pair's lock is held from before SO_ERROR until the pair is
// marked aborted, and a copy checks that mark before it passes an EOF on
// (run): a copy whose read came after SO_ERROR sees the mark; one whose
// read came before it met the error itself, and SO_ERROR finds none.
// Holding the lock also keeps the socket open: sockets are closed only
// under it, so a reused fd number is never asked.
func (s *Set) socketError(id uint64, side int) {
	s.mu.Lock()
	p := s.live[id]
	s.mu.Unlock()
	if p == nil {
		return // the pair has ended since the event
	}
	sock := socket(p.a)
	if side == 1 {
		sock = socket(p.b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	err := takeSocketError(sock)
	if err == nil {
		return // a copy met the error first, and reports it
	}
	s.watcherResets.Add(1)
	p.abortLocked(err)
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
	if p.watchTimer != nil {
		p.watchTimer.Stop()
	}

	s.mu.Lock()
	delete(s.live, p.id)
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
		for _, p := range s.live {
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
// sweeper and the watcher have stopped. It is safe to call more than once,
// but not from a done function, which Close would then wait for.
func (s *Set) Close() error {
	s.mu.Lock()
	var live []*pair
	if !s.closed {
		s.closed = true
		close(s.stop)
		for _, p := range s.live {
			live = append(live, p)
		}
	}
	s.mu.Unlock()
	for _, p := range live {
		p.abort(relay.ErrEngineClosed)
	}
	s.wg.Wait()
	s.watch.close()
	<-s.watcherDone
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
		CounterWatchedSockets:     s.watched.Load(),
		CounterUnwatchedSockets:   s.unwatched.Load(),
		CounterWatcherEvents:      s.watch.taken(),
		CounterWatcherResets:      s.watcherResets.Load(),
	}
}
