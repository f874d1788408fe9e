package epollsplice

import "github.com/ferry-tunnel/ferry/variants/internal/reactor"

// Name is the name the engine is registered under (on Linux only).
const Name = "epollsplice"

// PipeSizeEnv is the environment variable that sets the size of each pipe
// (F_SETPIPE_SZ), in bytes, when the engine is made; unset or empty means
// DefaultPipeSize. relay.Options has no engine-specific fields, so this is
// how `ferry --engine epollsplice` is told.
const PipeSizeEnv = "FERRY_SPLICE_PIPE_SIZE"

// DefaultPipeSize is the size asked of each pipe: 1 MiB, the kernel's
// default fs.pipe-max-size. A chunk is what one splice moves into the pipe,
// and fewer, larger chunks mean fewer splices, loop turns and reader
// wake-ups per byte: one hop between processes, 1 MiB pipes used 0.25
// CPU-s/GB where 64 KiB pipes used 0.42 (docs/engines.md). The price is
// kernel bookkeeping, paid only while a direction has bytes in flight or a
// loop keeps the pipe for reuse: an unprivileged user's 1 MiB pipe counts
// 256 pages against fs.pipe-user-pages-soft, and past it the engine copies
// instead (copy_fallbacks). PipeSizeEnv=65536 trades the CPU back for 16
// times the pipes.
const DefaultPipeSize = 1 << 20

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
