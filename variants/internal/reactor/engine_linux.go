package reactor

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/relay"
)

// DefaultBudget is the per-turn byte cap: how much one direction of a pair may
// read in one turn before the loop serves others. Four 64 KiB reads: enough to
// keep a bulk stream's syscalls large, small enough that one turn takes tens
// of microseconds, not milliseconds.
const DefaultBudget = 256 << 10

// LoopsEnv is the environment variable that sets the number of event loops
// when Config.Loops is zero. relay.Options has no engine-specific fields, so
// this is how `ferry --engine epollcopy` is told; unset or empty means
// GOMAXPROCS.
const LoopsEnv = "FERRY_EPOLL_LOOPS"

// maxLoops bounds LoopsEnv: each loop is an OS thread and two fds.
const maxLoops = 1024

// Config is what an engine built on the reactor chooses. NewPool is required;
// every other zero value means the default.
type Config struct {
	// Name is the engine's registered name, for log lines.
	Name string

	// Loops is the number of event loops. Zero means LoopsEnv if set, else
	// GOMAXPROCS when New is called.
	Loops int

	// Budget is the per-turn byte cap of one direction. Zero means
	// DefaultBudget.
	Budget int

	// NewPool makes one loop's conduit pool; New calls it once per loop.
	NewPool func() Pool
}

// An Engine is a multi-reactor: Loops event loops, each a goroutine locked to
// an OS thread with its own epoll instance, and no goroutine per pair. It
// implements relay.Engine.
type Engine struct {
	name    string
	idle    time.Duration
	budget  int
	log     *slog.Logger
	newPool func() Pool
	epoch   time.Time // the loops' clocks are monotonic ns since epoch
	loops   []*loop
	rr      atomic.Uint32 // where pick starts looking, so that ties rotate
	started atomic.Uint64

	// mu orders Relay against Close: Relay holds it shared from its check
	// of closed until the pair is queued, so once Close has set closed under
	// the exclusive lock every counted pair is in some loop's queue.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
}

// New starts an engine's loops.
func New(opts relay.Options, cfg Config) (*Engine, error) {
	e, err := newEngine(opts, cfg)
	if err != nil {
		return nil, err
	}
	for _, l := range e.loops {
		go l.run()
	}
	e.log.Info("epoll reactor started", "engine", e.name, "loops", len(e.loops),
		"budget", e.budget, "idle_timeout", e.idle, "idle_tick", sweepTick(e.idle))
	return e, nil
}

// newEngine makes the engine and its loops without starting them, for tests
// that drive a loop by hand.
func newEngine(opts relay.Options, cfg Config) (*Engine, error) {
	n, err := loopCount(cfg.Loops)
	if err != nil {
		return nil, err
	}
	if cfg.NewPool == nil {
		return nil, fmt.Errorf("%w: reactor engine %q has no conduit pool", relay.ErrConfig, cfg.Name)
	}
	e := &Engine{
		name:    cfg.Name,
		idle:    opts.IdleTimeout,
		budget:  cfg.Budget,
		log:     opts.Logger,
		newPool: cfg.NewPool,
		epoch:   time.Now(),
	}
	if e.budget <= 0 {
		e.budget = DefaultBudget
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for range n {
		l, err := newLoop(e)
		if err != nil {
			e.closeFDs()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	return e, nil
}

// loopCount resolves the number of loops: n if set, else LoopsEnv, else
// GOMAXPROCS.
func loopCount(n int) (int, error) {
	if n > 0 {
		return n, nil
	}
	if v := os.Getenv(LoopsEnv); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > maxLoops {
			return 0, fmt.Errorf("%w: %s=%q: want a whole number of event loops from 1 to %d", relay.ErrConfig, LoopsEnv, v, maxLoops)
		}
		return k, nil
	}
	return runtime.GOMAXPROCS(0), nil
}

func (e *Engine) clock() int64 { return int64(time.Since(e.epoch)) }

// Relay implements relay.Engine. The caller's goroutine takes both sockets
// over from the runtime (see takeover) and queues the pair on the least
// loaded loop, which registers it, relays it and calls done from its own
// goroutine. On a closed engine it resets both sockets and calls done with
// ErrEngineClosed before returning; such a call is not a pair.
func (e *Engine) Relay(a, b *net.TCPConn, done func(relay.Result)) {
	if done == nil {
		done = func(relay.Result) {}
	}
	if p := e.start(a, b, done); p != nil {
		// Not queued (see start): done runs here, outside e.mu, as it
		// may call Relay.
		p.done(p.result())
	}
}

// start does Relay's work under e.mu. It returns a pair that no loop took,
// with its error set and its sockets closed, for Relay to report.
func (e *Engine) start(a, b *net.TCPConn, done func(relay.Result)) *pair {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		resetConn(a)
		resetConn(b)
		return &pair{done: done, err: relay.ErrEngineClosed}
	}
	e.started.Add(1)
	p := &pair{fd: [2]int{-1, -1}, done: done}
	for i, c := range [2]*net.TCPConn{a, b} {
		fd, err := takeover(c)
		if err != nil {
			p.err = err
			break
		}
		p.fd[i] = fd
	}
	if p.err != nil {
		// The loop reports the failure like any pair's end; the sockets
		// are reset here: ours if duplicated, else the caller's.
		for i, c := range [2]*net.TCPConn{a, b} {
			if p.fd[i] >= 0 {
				resetFD(p.fd[i])
				p.fd[i] = -1
			} else {
				resetConn(c)
			}
		}
	}
	l := e.pick()
	err := l.submit(p)
	if err == nil {
		return nil
	}
	// The loop died (see loop.die): the pair ends here, counted on it.
	if p.err == nil {
		p.err = err
	}
	for i, fd := range p.fd {
		if fd >= 0 {
			resetFD(fd)
			p.fd[i] = -1
		}
	}
	l.c.pairsDone.Add(1)
	l.c.resets.Add(1)
	l.assigned.Add(-1)
	return p
}

// pick chooses the loop for a new pair: the one with the fewest pairs
// assigned and not yet done, looking from a rotating start so that ties go
// round robin. Plain round robin balances arrivals only; counting live pairs
// also balances departures, so that a loop whose pairs have ended gets the
// next ones instead of a loop still holding long-lived pairs. It is a
// heuristic: the counts move while it looks, which costs only balance.
func (e *Engine) pick() *loop {
	n := len(e.loops)
	start := int(e.rr.Add(1) % uint32(n))
	best := e.loops[start]
	load := best.assigned.Load()
	for k := 1; k < n; k++ {
		l := e.loops[(start+k)%n]
		if a := l.assigned.Load(); a < load {
			best, load = l, a
		}
	}
	best.assigned.Add(1)
	return best
}

// Close implements relay.Engine: it refuses further Relay calls, asks every
// loop to stop, and waits until each has aborted its pairs with
// ErrEngineClosed, called their done functions and freed its pool; then it
// closes the loops' epoll instances and eventfds. It is idempotent, and a
// concurrent second call returns when the first is finished. It must not be
// called from a done function, which runs on a loop it would wait for.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		for _, l := range e.loops {
			l.requestStop()
		}
		for _, l := range e.loops {
			<-l.exited
		}
		e.closeFDs()
	})
	return nil
}

// closeFDs closes every loop's epoll instance and eventfd. The loops have
// exited or never started, and no Relay can reach them.
func (e *Engine) closeFDs() {
	for _, l := range e.loops {
		unix.Close(l.epfd)
		unix.Close(l.evfd)
	}
}

// Counters implements relay.Engine: the common counters, the reactor's and
// the pools', summed over the loops.
func (e *Engine) Counters() map[string]uint64 {
	m := map[string]uint64{
		relay.CounterPairsStarted: e.started.Load(),
		CounterLoops:              uint64(len(e.loops)),
	}
	for _, l := range e.loops {
		l.c.addTo(m)
		l.pool.AddCounters(m)
	}
	return m
}
