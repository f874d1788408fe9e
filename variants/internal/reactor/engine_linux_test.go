package reactor

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// The number of loops: Config.Loops, else FERRY_EPOLL_LOOPS, else
// GOMAXPROCS; a bad environment value is a config error naming the variable.
func TestLoopCount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    string
		loops  int
		want   int
		badEnv bool
	}{
		{name: "default", want: runtime.GOMAXPROCS(0)},
		{name: "env", env: "3", want: 3},
		{name: "config_wins", env: "3", loops: 1, want: 1},
		{name: "zero", env: "0", badEnv: true},
		{name: "negative", env: "-2", badEnv: true},
		{name: "word", env: "many", badEnv: true},
		{name: "too_many", env: "100000", badEnv: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(LoopsEnv, tc.env)
			e, err := New(relay.Options{}, Config{Name: "test", Loops: tc.loops, NewPool: bufferPool})
			if tc.badEnv {
				if !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), LoopsEnv) {
					t.Errorf("New with %s=%q: err %v, want relay.ErrConfig naming %s", LoopsEnv, tc.env, err, LoopsEnv)
				}
				if e != nil {
					e.Close()
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if got := e.Counters()[CounterLoops]; got != uint64(tc.want) {
				t.Errorf("%s = %d, want %d", CounterLoops, got, tc.want)
			}
		})
	}
}

// pick prefers the loop with the fewest live pairs, and rotates among equals.
func TestPick(t *testing.T) {
	e, err := newEngine(relay.Options{}, Config{Name: "test", Loops: 3, NewPool: bufferPool})
	if err != nil {
		t.Fatal(err)
	}
	defer e.closeFDs()
	for i, n := range []int64{5, 2, 7} {
		e.loops[i].assigned.Store(n)
	}
	if l := e.pick(); l != e.loops[1] {
		t.Errorf("picked loop with %d pairs, want the one with 2", l.assigned.Load()-1)
	}
	for _, l := range e.loops {
		l.assigned.Store(0)
	}
	seen := map[*loop]int{}
	for range 3 {
		l := e.pick()
		seen[l]++
		l.assigned.Store(0) // keep them equal: only the rotation decides
	}
	if len(seen) != 3 {
		t.Errorf("three picks among equal loops went to %d loops, want all 3", len(seen))
	}
}

// A pair's direction reads at most the byte cap per turn and then yields to
// the other pairs of its loop, coming back without a new event. With a cap
// of one read per turn and a single loop, an endless bulk stream must not
// starve a ping-pong pair on the same loop (so the ready list gives way to
// epoll_wait), and must arrive intact (so the ready list resumes it).
func TestByteCapYields(t *testing.T) {
	e := newTestEngine(t, relay.Options{}, Config{Loops: 1, Budget: 1})
	bulk := relayPair(t, e, 0)
	ping := relayPair(t, e, 0)

	var stop atomic.Bool
	type tally struct {
		n   int64
		sum [32]byte
		err error
	}
	sent, received := make(chan tally, 1), make(chan tally, 1)
	go func() {
		h := sha256.New()
		var tl tally
		chunk := make([]byte, 64<<10)
		for i := 0; !stop.Load(); i++ {
			chunk[0], chunk[1] = byte(i), byte(i>>8)
			n, err := bulk.C1.Write(chunk)
			h.Write(chunk[:n])
			tl.n += int64(n)
			if err != nil {
				tl.err = err
				break
			}
		}
		if tl.err == nil {
			tl.err = bulk.C1.CloseWrite()
		}
		h.Sum(tl.sum[:0])
		sent <- tl
	}()
	go func() {
		h := sha256.New()
		var tl tally
		tl.n, tl.err = io.Copy(h, bulk.C2)
		h.Sum(tl.sum[:0])
		received <- tl
	}()

	const rounds = 200
	msg := make([]byte, 64)
	for range rounds {
		if _, err := ping.C1.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(ping.C2, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := ping.C2.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(ping.C1, msg); err != nil {
			t.Fatal(err)
		}
	}
	yields := e.Counters()[CounterBudgetYields]
	stop.Store(true)
	s, r := <-sent, <-received
	t.Logf("%d ping-pong rounds while the bulk stream moved %d bytes, %d turns ended on the cap", rounds, r.n, yields)
	if s.err != nil || r.err != nil {
		t.Fatalf("bulk stream: send %v, receive %v", s.err, r.err)
	}
	if r.n != s.n || r.sum != s.sum {
		t.Errorf("bulk stream: received %d bytes (hash ok %v), sent %d", r.n, r.sum == s.sum, s.n)
	}
	if yields == 0 {
		t.Errorf("%s = 0 during the bulk stream: the byte cap never ended a turn", CounterBudgetYields)
	}
}

// A pair holds a buffer only while bytes are in flight: none when idle, one
// per direction while its reader stalls, none again once drained.
func TestBuffersOnlyInFlight(t *testing.T) {
	e := newTestEngine(t, relay.Options{}, Config{Loops: 1})
	p := relayPair(t, e, 64<<10)
	inUse := func() uint64 { return e.Counters()[CounterBuffersInUse] }

	// Idle from the start.
	if got := inUse(); got != 0 {
		t.Errorf("new idle pair: %s = %d, want 0", CounterBuffersInUse, got)
	}

	// Stalled: C2 does not read, C1 writes until the sockets are full.
	var accepted atomic.Int64
	writeDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 16<<10)
		for {
			n, err := p.C1.Write(buf)
			accepted.Add(int64(n))
			if err != nil {
				writeDone <- err
				return
			}
		}
	}()
	if !eventually(func() bool { return inUse() == 1 }) {
		t.Fatalf("stalled pair: %s = %d, want 1", CounterBuffersInUse, inUse())
	}
	// It stays one however long the writer keeps trying.
	for last := accepted.Load(); ; {
		time.Sleep(50 * time.Millisecond) // let the writer try: this is the stall under test
		if got := inUse(); got != 1 {
			t.Fatalf("stalled pair: %s = %d, want 1", CounterBuffersInUse, got)
		}
		if now := accepted.Load(); now == last {
			break
		} else {
			last = now
		}
	}

	// Drained: C1 stops (its write fails once its socket is closed), C2
	// reads to the end, and the buffer goes back.
	p.C1.SetWriteDeadline(time.Now())
	<-writeDone
	p.C1.CloseWrite()
	got, err := io.Copy(io.Discard, p.C2)
	if err != nil || got != accepted.Load() {
		t.Fatalf("drained %d bytes (%v), C1 wrote %d", got, err, accepted.Load())
	}
	if !eventually(func() bool { return inUse() == 0 }) {
		t.Errorf("drained pair: %s = %d, want 0", CounterBuffersInUse, inUse())
	}
}

// A reset from a peer whose direction is backpressured (its bytes wait for a
// reader that is not reading) still ends the pair at once: the reads stop,
// so the loop learns of the reset from EPOLLERR and SO_ERROR, the hang-up
// check that comes last.
func TestResetWhileBackpressured(t *testing.T) {
	e := newTestEngine(t, relay.Options{}, Config{Loops: 1})
	p := relayPair(t, e, 64<<10)
	inUse := func() uint64 { return e.Counters()[CounterBuffersInUse] }
	go func() {
		buf := make([]byte, 16<<10)
		for {
			if _, err := p.C1.Write(buf); err != nil {
				return
			}
		}
	}()
	if !eventually(func() bool { return inUse() == 1 }) {
		t.Fatalf("pair never stalled: %s = %d", CounterBuffersInUse, inUse())
	}
	p.C1.SetLinger(0)
	p.C1.Close()
	r := result(t, p.res)
	if !errors.Is(r.Err, syscall.ECONNRESET) {
		t.Errorf("Result.Err = %v, want ECONNRESET", r.Err)
	}
	if _, err := io.Copy(io.Discard, p.C2); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("C2 read to the end: %v, want ECONNRESET", err)
	}
}

// A done function may call Relay: it runs on the loop, outside the batch and
// holding no lock, and Relay only queues.
func TestDoneMayRelay(t *testing.T) {
	e := newTestEngine(t, relay.Options{}, Config{Loops: 1})
	c1, a1 := tcpConn(t)
	c2, b1 := tcpConn(t)
	c3, a2 := tcpConn(t)
	c4, b2 := tcpConn(t)
	done2, res2 := reporter()
	first := make(chan relay.Result, 1)
	e.Relay(a1, b1, func(r relay.Result) {
		e.Relay(a2, b2, done2)
		first <- r
	})
	c1.CloseWrite()
	c2.CloseWrite()
	if r := result(t, first); r.Err != nil {
		t.Fatalf("first pair: %v", r.Err)
	}
	if _, err := c3.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(c4, one); err != nil {
		t.Fatalf("second pair, relayed from the first one's done: %v", err)
	}
	c3.CloseWrite()
	c4.CloseWrite()
	if r := result(t, res2); r.Err != nil || r.AtoB != 1 {
		t.Errorf("second pair: Result %+v, want 1 byte a→b and no error", r)
	}
}

// Pairs cost fds and memory, not goroutines: the goroutine count does not
// move with the number of pairs, and each pair holds exactly its two sockets.
func TestNoGoroutinePerPair(t *testing.T) {
	const pairs = 200
	e := newTestEngine(t, relay.Options{}, Config{Loops: 2})
	// The runtime opens its netpoller's fds on first use, and starts its
	// garbage collector's workers at the first collection: both before the
	// baseline.
	tcpConn(t)
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	ps := make([]*testPair, pairs)
	for i := range ps {
		ps[i] = relayPair(t, e, 0)
	}
	// Every pair is live: a byte through each.
	one := make([]byte, 1)
	for i, p := range ps {
		if _, err := p.C1.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p.C2, one); err != nil || one[0] != byte(i) {
			t.Fatalf("pair %d relayed %v, %v", i, one, err)
		}
	}
	if g := runtime.NumGoroutine(); g > g0+2 {
		t.Errorf("%d goroutines with %d pairs, %d with none: want no goroutine per pair", g, pairs, g0)
	}
	// Ours are C1 and C2; the engine's are its duplicates of a and b.
	if fds := countFDs(t) - fd0; fds != 4*pairs {
		t.Errorf("%d pairs hold %d fds, want %d: the test's two and the engine's two each", pairs, fds, 4*pairs)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	// Count only real fds, not the directory ReadDir opened.
	n := 0
	for _, ent := range ents {
		if _, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name())); err == nil {
			n++
		}
	}
	return n
}

// The loop waits forever when it has nothing to do, not at all while a pair
// waits on the ready list, and until the next idle tick when an idle timeout
// is set and pairs are live: no polling otherwise.
func TestWaitTimeout(t *testing.T) {
	e, err := newEngine(relay.Options{IdleTimeout: time.Second}, Config{Name: "test", Loops: 1, NewPool: bufferPool})
	if err != nil {
		t.Fatal(err)
	}
	defer e.closeFDs()
	l := e.loops[0]
	l.now = 0
	l.wheel = newWheel(time.Second, 0)
	l.wheel.advance(int64(100*time.Millisecond), func(wheelEntry) {})
	if got := l.waitTimeout(); got != -1 {
		t.Errorf("no pairs: timeout %d ms, want -1 (block)", got)
	}
	l.live = 1
	l.now = int64(100 * time.Millisecond)
	if got := l.waitTimeout(); got != 150 {
		t.Errorf("a live pair, idle ticks of 250ms, now 100ms: timeout %d ms, want 150", got)
	}
	l.ready = append(l.ready, &pair{})
	if got := l.waitTimeout(); got != 0 {
		t.Errorf("a pair on the ready list: timeout %d ms, want 0", got)
	}
}
