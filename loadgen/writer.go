package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"
)

// chunkSize is the most one Write call hands the kernel. It is large enough
// that system-call overhead in the harness stays small next to the relay.
const chunkSize = 128 << 10

// pattern is the bytes every Writer sends, repeated: pseudo-random from a
// fixed seed, so runs are reproducible, and of a length that is not a power
// of two, so a lost or repeated power-of-two block changes the checksum. It
// is made once and only ever read.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(0xfe77, 0x5eed))
	p := make([]byte, 1<<20+61)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}()

// A Writer pushes the deterministic pattern into a connection. The zero
// value writes until its context ends; Duration and Bytes stop it earlier.
type Writer struct {
	// Duration stops writing after this long. Zero means no time limit.
	Duration time.Duration
	// Bytes stops writing after this many bytes. Zero means no size limit.
	Bytes int64
}

// closeWriter is a connection that can end its write side alone (TCP
// half-close), so the peer reads EOF while replies can still flow back.
type closeWriter interface{ CloseWrite() error }

// Run writes into c until Duration has passed or Bytes are sent, then closes
// c's write side (when c supports half-close; otherwise the caller closes c)
// and returns what it sent. It does not close c. When ctx ends first, or a
// write fails, Run returns the bytes written so far and the error; a Write
// that blocks because the peer stopped reading is cut short by ctx, which
// leaves c with a write deadline in the past.
func (w Writer) Run(ctx context.Context, c net.Conn) (Stream, error) {
	var sent Stream
	// Unblock a stuck Write when ctx ends; the deadline is the only way to
	// interrupt one.
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()

	var end time.Time
	if w.Duration > 0 {
		end = time.Now().Add(w.Duration)
	}
	off := 0
	for {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		if w.Bytes > 0 && sent.Bytes >= w.Bytes {
			break
		}
		if !end.IsZero() && !time.Now().Before(end) {
			break
		}
		p := pattern[off:min(off+chunkSize, len(pattern))]
		if w.Bytes > 0 && int64(len(p)) > w.Bytes-sent.Bytes {
			p = p[:w.Bytes-sent.Bytes]
		}
		n, err := c.Write(p)
		sent.add(p[:n])
		off = (off + n) % len(pattern)
		if err != nil {
			if ctx.Err() != nil {
				// Our own deadline, set because ctx ended.
				return sent, ctx.Err()
			}
			return sent, err
		}
	}
	if cw, ok := c.(closeWriter); ok {
		if err := cw.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
			return sent, err
		}
	}
	return sent, nil
}
