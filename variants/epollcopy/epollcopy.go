package epollcopy

import "github.com/ferry-tunnel/ferry/variants/internal/reactor"

// Name is the name the engine is registered under (on Linux only).
const Name = "epollcopy"

// Counter names this engine adds to the common ones: the reactor's
// (reactor.CounterEpollWaits and the rest, listed in the package doc) and
// those of its user-space copy.
const (
	CounterReadCalls    = reactor.CounterReadCalls
	CounterWriteCalls   = reactor.CounterWriteCalls
	CounterCopiedBytes  = reactor.CounterCopiedBytes
	CounterBuffersInUse = reactor.CounterBuffersInUse
)
