package enginetest

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// patience bounds every wait for something that must happen. It is generous
// on purpose: CI is a busy 2-core machine, and a wait that runs long is a
// failure only when the event never comes.
const patience = 20 * time.Second

// pairDeadline is set on the test's sockets so that a broken engine fails a
// transfer instead of hanging the whole test binary.
const pairDeadline = 2 * time.Minute

// A harness is one scenario's engine and everything the scenario made. Its
// cleanup closes the engine, waits for the scenario's goroutines, checks the
// counters against the results and checks for leaks.
type harness struct {
	t       *testing.T
	e       relay.Engine
	tls     bool    // pairs go to RelayStreams, b over TLS
	closed  bool    // the scenario closed the engine; later pairs are not pairs to the counters
	pairs   []*Pair // pairs relayed while the engine was open
	late    []*Pair // pairs relayed after Close
	workers sync.WaitGroup
}

func newHarness(t *testing.T, tg target, opts relay.Options) *harness {
	t.Helper()
	base := takeBaseline()
	opts.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	e, err := tg.newEngine(opts)
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	h := &harness{t: t, e: e, tls: tg.tls}
	// Registered before any pair, so it runs after the pairs' cleanups have
	// closed the test's sockets.
	t.Cleanup(func() {
		if !h.closeEngine() {
			return // the engine still holds its pairs: leaks would be noise
		}
		h.waitWorkers()
		h.checkCounters()
		base.checkLeaks(t)
	})
	return h
}

// pair makes a relayed pair with a deadline on the test's sockets.
func (h *harness) pair() *Pair {
	h.t.Helper()
	return h.pairWith(pairConfig{deadline: pairDeadline})
}

func (h *harness) pairWith(cfg pairConfig) *Pair {
	h.t.Helper()
	cfg.tls = h.tls
	p := newPair(h.t, h.e, cfg)
	if h.closed {
		h.late = append(h.late, p)
	} else {
		h.pairs = append(h.pairs, p)
	}
	return p
}

// goErr runs f in a goroutine the cleanup waits for, and returns a channel
// that receives its error.
func (h *harness) goErr(f func() error) <-chan error {
	ch := make(chan error, 1)
	h.workers.Add(1)
	go func() {
		defer h.workers.Done()
		ch <- f()
	}()
	return ch
}

// wait returns what a goErr goroutine sent, or fails the scenario.
func (h *harness) wait(ch <-chan error, what string) error {
	h.t.Helper()
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		h.t.Fatalf("%s did not finish within %v", what, patience)
		return nil
	}
}

// closeEngine calls Close and fails the scenario if it does not return, or
// returns an error. It reports whether Close returned.
func (h *harness) closeEngine() bool {
	h.t.Helper()
	h.closed = true
	ch := make(chan error, 1)
	go func() { ch <- h.e.Close() }()
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case err := <-ch:
		if err != nil {
			h.t.Errorf("Close: %v", err)
		}
		return true
	case <-t.C:
		h.t.Errorf("Close did not return within %v", patience)
		return false
	}
}

func (h *harness) waitWorkers() {
	h.t.Helper()
	ch := make(chan struct{})
	go func() { h.workers.Wait(); close(ch) }()
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		h.t.Errorf("test goroutines still running %v after the engine closed", patience)
	}
}

// checkCounters runs after Close, when every done has returned: each pair's
// done ran exactly once, and the counters every engine reports agree with
// what done reported.
func (h *harness) checkCounters() {
	h.t.Helper()
	want := map[string]uint64{
		relay.CounterPairsStarted: uint64(len(h.pairs)),
		relay.CounterPairsDone:    uint64(len(h.pairs)),
		relay.CounterBytesAtoB:    0,
		relay.CounterBytesBtoA:    0,
		relay.CounterIdleTimeouts: 0,
		relay.CounterResets:       0,
	}
	for i, p := range append(h.pairs, h.late...) {
		n := p.calls.Load()
		if n != 1 {
			h.t.Errorf("pair %d: done called %d times by the time Close returned, want 1", i, n)
		}
		if n == 0 || i >= len(h.pairs) {
			continue
		}
		want[relay.CounterBytesAtoB] += uint64(p.res.AtoB)
		want[relay.CounterBytesBtoA] += uint64(p.res.BtoA)
		if p.res.Err != nil {
			want[relay.CounterResets]++
		}
		if errors.Is(p.res.Err, relay.ErrIdleTimeout) {
			want[relay.CounterIdleTimeouts]++
		}
	}
	got := h.e.Counters()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			h.t.Errorf("counter %s missing", k)
		case g != w:
			h.t.Errorf("counter %s = %d, want %d (from %d pairs' results)", k, g, w, len(h.pairs))
		}
	}
	if h.t.Failed() {
		h.t.Logf("counters: %v", got)
	}
}

// tWriter sends the engine's log to t.Log, so a failure shows what happened.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
