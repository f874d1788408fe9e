package all_test

import (
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	_ "github.com/ferry-tunnel/ferry/variants/all"
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
