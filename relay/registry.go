package relay

import (
	"fmt"
	"slices"
	"sync"
)

// A Factory makes a new engine. It fails when the engine cannot run here, for
// example a Linux-only engine on another system.
type Factory func(Options) (Engine, error)

var registry struct {
	sync.Mutex
	m map[string]Factory
}

// Register makes an engine available by name. Engine packages call it from
// init; a name registered twice panics, as that is a build mistake.
func Register(name string, f Factory) {
	registry.Lock()
	defer registry.Unlock()
	if registry.m == nil {
		registry.m = make(map[string]Factory)
	}
	if _, dup := registry.m[name]; dup {
		panic("relay: engine registered twice: " + name)
	}
	registry.m[name] = f
}

// Engines returns the registered engine names, sorted.
func Engines() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NewEngine makes the engine registered under name.
func NewEngine(name string, opts Options) (Engine, error) {
	registry.Lock()
	f := registry.m[name]
	registry.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w: %q (registered: %v)", ErrUnknownEngine, name, Engines())
	}
	e, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("relay: engine %q: %w", name, err)
	}
	return e, nil
}

// DefaultEngine is the engine used when none is named.
const DefaultEngine = "gocopy"
