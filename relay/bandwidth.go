package relay

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/time/rate"
)

// A BandwidthRule caps one tunnel's throughput (TOML [[bandwidth]] with
// tunnel and rate). Tunnel "*" is the rule for every tunnel without one of
// its own.
type BandwidthRule struct {
	Tunnel string `toml:"tunnel"`
	// Rate is bytes per second for each direction of the tunnel, all its
	// connections together: a number with an optional unit, B, kB, MB, GB
	// (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. "10MB".
	Rate string `toml:"rate"`
}

// ParseRate reads a Rate: bytes per second, at least 1.
func ParseRate(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{ // longest suffixes first, so "KiB" is not read as "B"
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1},
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v*mult < 1 {
		return 0, fmt.Errorf("%q is not a rate of at least 1 byte per second (e.g. 500kB, 10MB, 1GiB)", s)
	}
	return v * mult, nil
}

// pace is a tunnel's pair of token buckets, one per direction. Every
// public connection of the tunnel draws on the same two, so the cap holds
// however many connections share it.
type pace struct {
	in, out *rate.Limiter // public→client, client→public
	chunk   int           // the most one read or write takes at once: the burst
}

// newPace makes buckets for bytesPerSec with a burst of a tenth of a second
// at that rate, and at least 16 KiB so that small rates do not turn into a
// syscall per few bytes.
func newPace(bytesPerSec float64) *pace {
	burst := max(16<<10, int(bytesPerSec/10))
	return &pace{
		in:    rate.NewLimiter(rate.Limit(bytesPerSec), burst),
		out:   rate.NewLimiter(rate.Limit(bytesPerSec), burst),
		chunk: burst,
	}
}

// wrap paces a public connection: reads wait for the in bucket and writes
// for the out bucket. An engine that relays Streams moves the bytes, never
// knowing they are paced; the wait ends early when the pair is aborted or
// closed.
func (p *pace) wrap(s Stream) Stream {
	ctx, cancel := context.WithCancel(context.Background())
	return &paced{Stream: s, p: p, ctx: ctx, cancel: cancel}
}

// paced embeds the Stream interface, not a concrete connection, so it has
// no ReadFrom or WriteTo an engine could take to move bytes around the
// buckets.
type paced struct {
	Stream
	p      *pace
	ctx    context.Context
	cancel context.CancelFunc
}

// Read pays for what it read before returning it, so the sender is held
// back by TCP flow control while the bucket refills.
func (c *paced) Read(b []byte) (int, error) {
	if len(b) > c.p.chunk {
		b = b[:c.p.chunk]
	}
	n, err := c.Stream.Read(b)
	if n > 0 {
		if werr := c.p.in.WaitN(c.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Write pays before each chunk it writes.
func (c *paced) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		k := min(len(b), c.p.chunk)
		if err := c.p.out.WaitN(c.ctx, k); err != nil {
			return written, err
		}
		n, err := c.Stream.Write(b[:k])
		written += n
		if err != nil {
			return written, err
		}
		b = b[k:]
	}
	return written, nil
}

func (c *paced) Abort() {
	c.cancel()
	c.Stream.Abort()
}

func (c *paced) Close() error {
	c.cancel()
	return c.Stream.Close()
}

// Socket names the socket under the paced Stream, for watching only: the
// bytes still go through Read and Write, and so through the buckets.
func (c *paced) Socket() *net.TCPConn {
	if s, ok := c.Stream.(SocketStream); ok {
		return s.Socket()
	}
	return nil
}
