package epollcopy_test

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/epollcopy"
	"github.com/ferry-tunnel/ferry/variants/epollsplice"
	"github.com/ferry-tunnel/ferry/variants/gocopy"
	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

const (
	defaultIdlePairs = 4000
	bigTestsEnv      = "FERRY_BIG_TESTS"  // 1: as many pairs as the fd limit allows
	pairsEnv         = "FERRY_IDLE_PAIRS" // pairs per engine, overriding both
)

// TestIdlePairs holds many idle pairs at once, first on gocopy and then on
// epollcopy, and compares what a pair costs: resident memory (the RSS delta
// over the pairs, after a garbage collection), fds and goroutines. epollcopy
// must not add a goroutine per pair, must cost at most a quarter of gocopy's
// memory per pair (the target), and must give every fd back on
// Close. Socket buffers and pipes are kernel memory, which RSS does not
// show.
//
// 4,000 pairs per engine by default (about 4 s); FERRY_BIG_TESTS=1 takes as
// many as the fd limit allows, FERRY_IDLE_PAIRS=N exactly N. Skipped with
// -short and under the race detector.
//
//	FERRY_BIG_TESTS=1 go test -run TestIdlePairs -v ./variants/epollcopy
func TestIdlePairs(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of sockets; skipped with -short")
	}
	if enginetest.RaceEnabled {
		t.Skip("memory per pair means nothing under the race detector")
	}
	n := defaultIdlePairs
	if os.Getenv(bigTestsEnv) == "1" {
		n = math.MaxInt // capped by the fd limit below
	}
	if v := os.Getenv(pairsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of pairs", pairsEnv, v)
		}
	}
	child := startChild(t)

	// gocopy's idle pair holds six fds here: its two sockets and, for each
	// direction, the pipe of the splice the runtime is blocked in. Its run
	// gets the pairs that fit under the fd limit; the figures are per pair.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	room := int(lim.Cur) - countFDs(t) - 100
	results := map[string]idleCost{}
	for _, eng := range []struct {
		name       string
		fdsPerPair int
	}{
		{name: gocopy.Name, fdsPerPair: 6},
		{name: epollcopy.Name, fdsPerPair: 2},
		{name: epollsplice.Name, fdsPerPair: 2}, // an idle pair holds no pipe
	} {
		t.Run("engine="+eng.name, func(t *testing.T) {
			results[eng.name] = measureIdle(t, child, eng.name, min(n, room/eng.fdsPerPair))
		})
	}
	g := results[gocopy.Name]
	if g.pairs == 0 {
		t.Fatal("gocopy was not measured")
	}
	for _, name := range []string{epollcopy.Name, epollsplice.Name} {
		ep := results[name]
		if ep.pairs == 0 {
			t.Fatalf("%s was not measured", name)
		}
		t.Logf("memory per idle pair: gocopy %.0f B, %s %.0f B (%.1f%% of gocopy)",
			g.rssPerPair, name, ep.rssPerPair, 100*ep.rssPerPair/g.rssPerPair)
		if ep.rssPerPair > g.rssPerPair/4 {
			t.Errorf("an idle %s pair costs %.0f B, more than a quarter of gocopy's %.0f B", name, ep.rssPerPair, g.rssPerPair)
		}
	}
}

// idleCost is what one engine's idle pairs cost this process.
type idleCost struct {
	pairs         int
	rssPerPair    float64 // bytes
	fdsPerPair    float64
	goroutinesAdd int // goroutines with the pairs open, minus before
}

// measureIdle relays n pairs dialled by the child on a new engine, pings
// each once so that it has really relayed, measures, closes the engine and
// checks that fds and goroutines come back.
func measureIdle(t *testing.T, child *childProc, name string, n int) idleCost {
	lnA, lnB := listen(t), listen(t)
	runtime.GC()
	debug.FreeOSMemory()
	rss0, fd0, g0 := rssBytes(t), countFDs(t), runtime.NumGoroutine()

	e, err := relay.NewEngine(name, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			e.Close()
		}
	}()
	ended, setup := relayChildPairs(t, child, e, lnA, lnB, n)

	runtime.GC()
	debug.FreeOSMemory()
	rss1, fd1, g1 := rssBytes(t), countFDs(t), runtime.NumGoroutine()
	c := idleCost{
		pairs:         n,
		rssPerPair:    float64(rss1-rss0) / float64(n),
		fdsPerPair:    float64(fd1-fd0) / float64(n),
		goroutinesAdd: g1 - g0,
	}
	t.Logf("%s: %d idle pairs set up and pinged in %v: RSS +%.1f MiB (%.0f B/pair), +%d fds (%.2f/pair), +%d goroutines",
		name, n, setup.Round(time.Millisecond), float64(rss1-rss0)/(1<<20), c.rssPerPair, fd1-fd0, c.fdsPerPair, c.goroutinesAdd)
	if ended.Load() != 0 {
		t.Errorf("%d idle pairs ended before Close", ended.Load())
	}
	if name == epollcopy.Name {
		loops := int(e.Counters()[reactor.CounterLoops])
		if c.goroutinesAdd > loops+2 {
			t.Errorf("%d more goroutines with %d pairs open, want at most the %d loops and 2 more: no goroutine per pair", c.goroutinesAdd, n, loops)
		}
		if fd1-fd0 > 2*n+8 {
			t.Errorf("%d more fds for %d pairs, want 2 per pair (the sockets) and a few for the loops", fd1-fd0, n)
		}
	}

	closed = true
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ended.Load(); got != int64(n) {
		t.Errorf("done called for %d of %d pairs by the time Close returned", got, n)
	}
	child.send(t, "close")
	child.expect(t, "closed")
	lnA.Close()
	lnB.Close()
	back := func() bool { return countFDs(t) <= fd0-2 && runtime.NumGoroutine() <= g0 }
	for deadline := time.Now().Add(bigPatience); !back(); {
		if time.Now().After(deadline) {
			t.Errorf("after Close: %d fds (before the pairs %d, and 2 listeners since closed), %d goroutines (before %d)",
				countFDs(t), fd0, runtime.NumGoroutine(), g0)
			break
		}
		runtime.GC() // the runtime's splice pipes (gocopy) are closed by cleanups
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// rssBytes is VmRSS from /proc/self/status.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
