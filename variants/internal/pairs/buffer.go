package pairs

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferry-tunnel/ferry/relay"
)

// BufferSize is the user-space copy's buffer: one per running direction.
const BufferSize = 64 << 10

// bufs holds the copy buffers. A direction takes one when it starts and puts
// it back when it ends, so an engine holds 64 KiB per running direction and
// nothing for pairs that have ended.
var bufs = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// A BufferedCopy copies through a user-space buffer and counts what it did.
// Its Copy is a CopyFunc.
type BufferedCopy struct {
	Reads, Writes, Copied atomic.Uint64 // Read calls, Write calls, bytes written
}

// Copy moves src to dst through a pooled buffer, reporting every chunk it
// writes. A Read returns as soon as bytes have arrived (from a TLS Stream, a
// record), so the idle timeout sees a trickle without read deadlines, and no
// write deadline is ever set, which would corrupt a tls.Conn. Write writes
// all of a chunk or fails, so every chunk read is passed on before the next
// Read.
func (b *BufferedCopy) Copy(dst, src relay.Stream, moved func(int64)) error {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	for {
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
	}
}
