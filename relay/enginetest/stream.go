package enginetest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"

	"github.com/ferry-tunnel/ferry/relay"
)

// A stream is the deterministic content one side sends: a pseudo-random block
// repeated. The block's length is odd so that no engine's power-of-two
// chunking lines up with it, and a dropped, repeated or reordered chunk
// changes the SHA-256 of what arrives.
type stream struct {
	block []byte
	n     int64 // total bytes
}

const blockLen = 1<<20 + 4099

func newStream(seed uint64, n int64) stream {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	key[2] = byte(seed >> 16)
	key[3] = byte(seed >> 24)
	b := make([]byte, min(n, blockLen))
	rand.NewChaCha8(key).Read(b)
	return stream{block: b, n: n}
}

// sum is the SHA-256 of the whole stream.
func (s stream) sum() [32]byte {
	h := sha256.New()
	for left := s.n; left > 0; {
		k := min(left, int64(len(s.block)))
		h.Write(s.block[:k])
		left -= k
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// sendOpts shape how a stream is written.
type sendOpts struct {
	piece    int           // bytes per Write; 0 means the whole block
	progress *atomic.Int64 // if set, bytes accepted by the socket so far
}

// send writes s to c and then half-closes c, returning the SHA-256 of what it
// wrote.
func send(c relay.Stream, s stream, o sendOpts) ([32]byte, error) {
	h := sha256.New()
	piece := o.piece
	if piece <= 0 {
		piece = len(s.block)
	}
	var off int
	for left := s.n; left > 0; {
		k := min(int64(piece), left, int64(len(s.block)-off))
		p := s.block[off : off+int(k)]
		n, err := c.Write(p)
		h.Write(p[:n])
		if o.progress != nil {
			o.progress.Add(int64(n))
		}
		if err != nil {
			return [32]byte{}, fmt.Errorf("write after %d of %d bytes: %w", s.n-left+int64(n), s.n, err)
		}
		left -= k
		off = (off + int(k)) % len(s.block)
	}
	if err := c.CloseWrite(); err != nil {
		return [32]byte{}, fmt.Errorf("CloseWrite: %w", err)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// recv reads c until EOF and returns how many bytes it read and their
// SHA-256. If progress is set it is kept up to date.
func recv(c io.Reader, progress *atomic.Int64) (int64, [32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var total int64
	var out [32]byte
	for {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		total += int64(n)
		if progress != nil {
			progress.Add(int64(n))
		}
		if err == io.EOF {
			h.Sum(out[:0])
			return total, out, nil
		}
		if err != nil {
			return total, out, fmt.Errorf("read after %d bytes: %w", total, err)
		}
	}
}

// drainToEnd reads c until EOF or an error and returns that error, nil for
// EOF: how a peer learns that its pair has ended, either way.
func drainToEnd(c io.Reader) error {
	_, _, err := recv(c, nil)
	return err
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
