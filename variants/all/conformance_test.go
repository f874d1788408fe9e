package all_test

import (
	"runtime"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	_ "github.com/ferry-tunnel/ferry/variants/all"
	"github.com/ferry-tunnel/ferry/variants/epollcopy"
	"github.com/ferry-tunnel/ferry/variants/epollsplice"
	"github.com/ferry-tunnel/ferry/variants/gocopy"
	"github.com/ferry-tunnel/ferry/variants/gocopybuf"
)

// TestConformance runs the whole suite against every registered engine.
func TestConformance(t *testing.T) {
	names := relay.Engines()
	if len(names) == 0 {
		t.Fatal("no engines registered")
	}
	for _, name := range names {
		t.Run("engine="+name, func(t *testing.T) {
			enginetest.Run(t, func(o relay.Options) (relay.Engine, error) {
				return relay.NewEngine(name, o)
			})
		})
	}
}

// TestConformanceStreams runs the suite over TLS pairs (enginetest.RunStreams)
// against every registered engine that relays Streams. Which engines must is
// pinned here, so that the test cannot pass by running none: the goroutine
// engines copy through the connections' own methods and must; the reactors
// move bytes between raw fds, where a TLS connection's plaintext never is,
// and must not.
func TestConformanceStreams(t *testing.T) {
	relaysStreams := make(map[string]bool)
	for _, name := range relay.Engines() {
		e, err := relay.NewEngine(name, relay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, ok := e.(relay.StreamRelayer)
		relaysStreams[name] = ok
		e.Close()
	}
	for _, want := range []struct {
		name      string
		streams   bool
		linuxOnly bool // registered only on Linux
	}{
		{name: gocopy.Name, streams: true},
		{name: gocopybuf.Name, streams: true},
		{name: epollcopy.Name, linuxOnly: true},
		{name: epollsplice.Name, linuxOnly: true},
	} {
		got, registered := relaysStreams[want.name]
		switch {
		case !registered && (!want.linuxOnly || runtime.GOOS == "linux"):
			t.Errorf("engine %s is not registered", want.name)
		case registered && got != want.streams:
			t.Errorf("engine %s implements relay.StreamRelayer: %v, want %v", want.name, got, want.streams)
		}
	}
	for _, name := range relay.Engines() {
		if !relaysStreams[name] {
			continue
		}
		t.Run("engine="+name, func(t *testing.T) {
			enginetest.RunStreams(t, func(o relay.Options) (relay.Engine, error) {
				return relay.NewEngine(name, o)
			})
		})
	}
}
