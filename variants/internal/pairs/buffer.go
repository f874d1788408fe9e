package pairs

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferry-tunnel/ferry/relay"
)

// Buffer sizes of the user-space copy: BufferSize while bytes keep coming,
// SmallBufferSize (CopyLean only) while a stream is quiet.
const (
	BufferSize      = 64 << 10
	SmallBufferSize = 4 << 10
)

// bufs and smallBufs hold the copy buffers. A direction takes one when it
// needs it and puts it back when it ends or changes size, so an engine holds
// buffers only for running directions, none for pairs that have ended.
var (
	bufs      = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}
	smallBufs = sync.Pool{New: func() any { b := make([]byte, SmallBufferSize); return &b }}
)

// A BufferedCopy copies through a user-space buffer and counts what it did.
// Its Copy and CopyLean are CopyFuncs.
type BufferedCopy struct {
	Reads, Writes, Copied atomic.Uint64 // Read calls, Write calls, bytes written
}

// Copy moves src to dst through a pooled 64 KiB buffer, held for as long as
// the direction runs, reporting every chunk it writes. A Read returns as
// soon as bytes have arrived (from a TLS Stream, a record), so the idle
// timeout sees a trickle without read deadlines, and no write deadline is
// ever set, which would corrupt a tls.Conn. Write writes all of a chunk or
// fails, so every chunk read is passed on before the next Read.
func (b *BufferedCopy) Copy(dst, src relay.Stream, moved func(int64)) error {
	return b.copy(dst, src, moved, false)
}

// CopyLean is Copy holding a 64 KiB buffer only while bytes keep coming. It
// reads into a 4 KiB buffer, moves to a 64 KiB one after a read fills the
// small one, and gives the large one back after a read the small one would
// have held. A goroutine blocked in Read must hold the buffer it reads
// into; this way a direction waiting on a quiet stream holds 4 KiB, not
// 64, while a bulk stream still moves up to 64 KiB per write after its
// first 4 KiB read.
func (b *BufferedCopy) CopyLean(dst, src relay.Stream, moved func(int64)) error {
	return b.copy(dst, src, moved, true)
}

func (b *BufferedCopy) copy(dst, src relay.Stream, moved func(int64), lean bool) error {
	pool := &bufs
	if lean {
		pool = &smallBufs
	}
	bp := pool.Get().(*[]byte)
	defer func() { pool.Put(bp) }()
	for {
		buf := *bp
		nr, rerr := src.Read(buf)
		b.Reads.Add(1)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			b.Writes.Add(1)
			if nw > 0 {
				b.Copied.Add(uint64(nw))
				moved(int64(nw))
			}
			if werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		switch {
		case !lean:
		case pool == &smallBufs && nr == len(buf):
			pool.Put(bp)
			pool, bp = &bufs, bufs.Get().(*[]byte)
		case pool == &bufs && nr <= SmallBufferSize:
			pool.Put(bp)
			pool, bp = &smallBufs, smallBufs.Get().(*[]byte)
		}
	}
}
