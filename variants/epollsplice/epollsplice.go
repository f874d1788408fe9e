package epollsplice

import "github.com/ferry-tunnel/ferry/variants/internal/reactor"

// Name is the name the engine is registered under (on Linux only).
const Name = "epollsplice"

// PipeSizeEnv is the environment variable that sets the size of each pipe
// (F_SETPIPE_SZ), in bytes, when the engine is made; unset or empty means
// DefaultPipeSize. relay.Options has no engine-specific fields, so this is
// how `ferry --engine epollsplice` is told.
const PipeSizeEnv = "FERRY_SPLICE_PIPE_SIZE"

// DefaultPipeSize is the size asked of each pipe: 64 KiB, the kernel's
// default pipe size and the size of epollcopy's buffers, so one chunk is the
// same size in both reactor engines. The loop's byte cap (256 KiB) still
// ends a turn after a few chunks.
const DefaultPipeSize = 64 << 10

// Counter names this engine adds to the common ones and the reactor's
// (reactor.CounterEpollWaits and the rest, listed in the package doc).
const (
	CounterSpliceInCalls  = "splice_in_calls"  // splice(2) socket → pipe
	CounterSpliceOutCalls = "splice_out_calls" // splice(2) pipe → socket
	CounterSplicedBytes   = "spliced_bytes"    // bytes spliced out of pipes into destination sockets
	CounterCopyFallbacks  = "copy_fallbacks"   // conduits handed out as copy buffers because no full-size pipe could be made
	CounterPipesInUse     = "pipes_in_use"     // gauge: pipes holding a direction's bytes in flight now

	// The fallback's user-space copy, as epollcopy counts it.
	CounterReadCalls    = reactor.CounterReadCalls
	CounterWriteCalls   = reactor.CounterWriteCalls
	CounterCopiedBytes  = reactor.CounterCopiedBytes
	CounterBuffersInUse = reactor.CounterBuffersInUse
)
