package relay

import (
	"errors"
	"net"
	"testing"
)

// rawOnly is an engine that relays raw sockets only, like the reactors.
type rawOnly struct{ closed bool }

func (e *rawOnly) Relay(a, b *net.TCPConn, done func(Result)) {}
func (e *rawOnly) Close() error                               { e.closed = true; return nil }
func (e *rawOnly) Counters() map[string]uint64                { return map[string]uint64{"raw": 1} }

// TestStreamEngine: TLS pairs go to the engine itself when it can relay
// them; to a user-space engine of their own when it cannot and was only
// defaulted; and a named engine that cannot is a config error. (The test
// binary registers the real engines: the external tests import them.)
func TestStreamEngine(t *testing.T) {
	if _, err := NewEngine(streamFallback, Options{}); err != nil {
		t.Skipf("fallback engine not registered in this binary: %v", err)
	}
	raw := &rawOnly{}
	if _, err := streamEngine(raw, "raw", true, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("named raw-only engine: got %v, want ErrConfig", err)
	}

	sr, err := streamEngine(raw, "raw", false, Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	fe, ok := sr.(Engine)
	if !ok || fe == Engine(raw) {
		t.Fatalf("defaulted raw-only engine: got %T, want an engine of its own", sr)
	}
	m := newCounters("x").snapshot(raw, sr)
	if _, ok := m["tls_engine."+CounterPairsStarted]; !ok || m["engine.raw"] != 1 {
		t.Errorf("counters do not show both engines: %v", m)
	}
	closeStreams(raw, sr)
	if raw.closed {
		t.Error("closeStreams closed the main engine")
	}

	self, err := NewEngine(streamFallback, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	sr, err = streamEngine(self, streamFallback, true, Options{})
	if err != nil || sr != self.(StreamRelayer) {
		t.Errorf("an engine that relays streams: got %v, %v, want itself", sr, err)
	}
	if m := newCounters("x").snapshot(self, sr); len(m) != len(self.Counters())+1 {
		t.Errorf("the engine's counters appear twice: %v", m)
	}
}
