package relay

import (
	"log/slog"
	"net"
	"time"
)

// An Engine moves bytes between pairs of connected TCP sockets.
//
// Relay takes ownership of a and b: from the call on, the caller never reads,
// writes, closes or sets deadlines on either socket again; the engine closes
// both exactly once. Relay returns at once. Bytes flow a→b and b→a
// independently. EOF read from one side becomes a CloseWrite on the other
// once everything read before it has been written, while the other direction
// keeps flowing (half-close). A reset or any other error on either side ends
// the pair with SO_LINGER 0 on both sockets, so the peers see a reset and
// never a clean FIN that makes a cut-off reply look complete. When both
// directions have ended and both sockets are closed, done is called exactly
// once, from any goroutine, with the bytes moved each way and the first
// error (nil when both directions ended with EOF). done must not call Close,
// which waits for it.
//
// Close stops the engine: it closes every live pair (their done functions
// still run, with ErrEngineClosed), frees every pool and loop, and returns
// when all of that has happened. Relay on a closed engine resets and closes
// both sockets and calls done with ErrEngineClosed, possibly before Relay
// returns, so a caller must not hold a lock that done takes; such a call is
// not a pair and moves no counter.
//
// Counters returns a snapshot of what the engine did. Every engine reports
// the counters named by the Counter* constants, updated before the pair's
// done is called; engines add their own (syscalls of each kind, splice
// calls, fallbacks) so results can prove which path ran.
type Engine interface {
	Relay(a, b *net.TCPConn, done func(Result))
	Close() error
	Counters() map[string]uint64
}

// Result is what an engine reports when a pair ends.
type Result struct {
	AtoB int64 // bytes read from a and written to b
	BtoA int64 // bytes read from b and written to a
	Err  error // first error of either direction; nil if both ended with EOF
}

// Options configures an engine. The zero value works: no idle timeout and a
// logger that discards.
type Options struct {
	// IdleTimeout ends a pair, with ErrIdleTimeout, after no byte moved in
	// either direction for this long. Zero means pairs never time out. It is
	// an engine option rather than a deadline on the sockets so that a
	// reactor can implement it without a timer per pair. Engines see
	// activity a chunk at a time, and are late by up to a quarter of it.
	IdleTimeout time.Duration

	// Logger receives the engine's rare events (fallbacks, start-up). Nothing
	// logs per byte or per chunk. Nil discards.
	Logger *slog.Logger
}

// Counter names every engine reports.
const (
	CounterPairsStarted = "pairs_started"
	CounterPairsDone    = "pairs_done"
	CounterBytesAtoB    = "bytes_a_to_b"
	CounterBytesBtoA    = "bytes_b_to_a"
	CounterIdleTimeouts = "idle_timeouts"
	CounterResets       = "resets" // pairs that ended with any error (idle timeouts and Close included), reset to both peers
)
