package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

const (
	// defaultDialRate keeps a burst of dials well inside a listen backlog
	// of 4096 and a tunnel's accept path, which pairs every public
	// connection with a data connection before the next.
	defaultDialRate = 2000

	// maxInflightDials bounds the dials waiting for a handshake at once,
	// so a target that stops answering costs a bounded number of
	// goroutines, while a slow round trip still does not cap the rate.
	maxInflightDials = 256

	// checkWorkers is how many echo round trips run at once.
	checkWorkers = 64

	// fdHeadroom is kept free for the rest of the process (its listeners,
	// log files, the harness's own sockets), beyond one fd per conn.
	fdHeadroom = 64
)

// Idle holds many connections open through a target with almost nothing
// moving, so a harness can measure what an idle connection costs a relay.
// The target must echo: write back what it reads until EOF.
type Idle struct {
	// Addr is where to dial: the relay's public port, or the echo
	// backend directly.
	Addr string
	// Conns is how many connections to hold. Zero means 1.
	Conns int
	// DialRate paces dialling, in dials per second, so that neither a
	// listen backlog nor a tunnel's accept path is overrun. Zero means
	// 2000 per second; +Inf means no pacing.
	DialRate float64
	// Size is how many bytes each echo round trip sends, at most
	// len(pattern) (1 MiB and a little). Each connection sends a different
	// slice of the pattern, so a larger Size also catches two
	// connections crossed in a relay. Zero means 1.
	Size int
}

// IdleHeld is the connections an Idle workload holds. Holding them costs the
// loadgen no goroutine. An IdleHeld is not safe for concurrent use.
type IdleHeld struct {
	conns []net.Conn // every one live until Close
	size  int
	round int // echo round trips done, so each uses fresh bytes
}

// Hold dials every connection, proves each live with one echo round trip,
// and returns once all are held. Before dialling it checks that the
// process's file-descriptor limit leaves room for one fd per connection
// plus a little headroom, and fails with ErrFDLimit if not. The check adds
// the held conns to what the process has open now, so a harness that runs
// the echo backend or a relay in the same process must allow for the fds
// those will open as the conns arrive. On any error every
// connection already dialled is closed, and the error names the first
// connection that failed.
func (i Idle) Hold(ctx context.Context) (*IdleHeld, error) {
	n, rate, size := i.Conns, i.DialRate, i.Size
	if n == 0 {
		n = 1
	}
	if rate == 0 {
		rate = defaultDialRate
	}
	if size == 0 {
		size = 1
	}
	switch {
	case n < 0:
		return nil, fmt.Errorf("loadgen: idle: Conns %d: want 0 or more", i.Conns)
	case !(rate > 0): // NaN too
		return nil, fmt.Errorf("loadgen: idle: DialRate %v: want 0 or more", i.DialRate)
	case size < 0 || size > len(pattern):
		return nil, fmt.Errorf("loadgen: idle: Size %d: want 0..%d", i.Size, len(pattern))
	}
	if limit, open, ok := fdRoom(); ok && n > limit-open-fdHeadroom {
		return nil, fmt.Errorf("%w: %d idle conns need %d fds, but the soft RLIMIT_NOFILE is %d and %d are open (raise it with ulimit -n)",
			ErrFDLimit, n, n+fdHeadroom, limit, open)
	}
	h := &IdleHeld{conns: make([]net.Conn, n), size: size}
	if err := h.dial(ctx, i.Addr, rate); err != nil {
		h.Close()
		return nil, err
	}
	if err := h.Check(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// dial fills h.conns, starting dial k at k/rate seconds after the first, or
// at once when it is behind that schedule.
func (h *IdleHeld) dial(ctx context.Context, addr string, rate float64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		d        net.Dialer
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	inflight := make(chan struct{}, maxInflightDials)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
dialling:
	for k := range h.conns {
		if wait := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second)))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break dialling
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			break dialling
		case inflight <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("loadgen: idle conn %d of %d: %w", k, len(h.conns), err)
					cancel()
				}
				mu.Unlock()
				return
			}
			h.conns[k] = c // each goroutine owns its own element
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loadgen: idle: dialling: %w", err)
	}
	return nil
}

// Len is how many connections h holds: Conns until Close, then 0.
func (h *IdleHeld) Len() int { return len(h.conns) }

// Check makes one more echo round trip on every connection, to prove each
// is still alive end to end after the hold. It returns the first failure,
// naming the connection, and cuts the other round trips short; after a
// failed or cancelled Check the connections may hold stray echoed bytes, so
// only Close is left to do with them.
func (h *IdleHeld) Check(ctx context.Context) error {
	if h.conns == nil {
		return fmt.Errorf("loadgen: idle: %w", net.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	round := h.round
	h.round++
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for range min(checkWorkers, len(h.conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The buffer lives as long as this worker.
			buf := make([]byte, h.size)
			for k := range next {
				err := echoOnce(ctx, h.conns[k], h.payload(k, round), buf)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						if errors.Is(err, ErrMismatch) {
							firstErr = fmt.Errorf("%w: idle conn %d of %d: the echo of %d bytes came back different",
								ErrMismatch, k, len(h.conns), h.size)
						} else {
							firstErr = fmt.Errorf("loadgen: idle conn %d of %d: echo: %w", k, len(h.conns), err)
						}
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
feeding:
	for k := range h.conns {
		select {
		case <-ctx.Done():
			break feeding
		case next <- k:
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loadgen: idle: checking: %w", err)
	}
	return nil
}

// payload is what connection k sends in the given round: a slice of the
// pattern that differs between connections and rounds, so that an echo
// crossed between two connections, or a stale one, is caught once Size is
// more than a few bytes.
func (h *IdleHeld) payload(k, round int) []byte {
	span := len(pattern) - h.size + 1
	off := (k*7919 + round*104729) % span
	return pattern[off : off+h.size]
}

// echoOnce writes p to c and reads the echo into buf, which is len(p) long;
// an echo that differs from p is ErrMismatch.
// The write runs beside the read, so that a p larger than the socket buffers
// on the way cannot deadlock against an echo that is blocked writing back.
func echoOnce(ctx context.Context, c net.Conn, p, buf []byte) error {
	// A deadline is the only way to interrupt a blocked Read or Write.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(p)
		werr <- err
	}()
	_, err := io.ReadFull(c, buf)
	if err != nil {
		// The echo will not come; do not wait for a write the peer may
		// never take.
		c.SetWriteDeadline(time.Unix(1, 0))
	}
	if werr := <-werr; err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return ctxOr(ctx, err)
	}
	if !bytes.Equal(buf, p) {
		return ErrMismatch
	}
	return nil
}

// Close closes every connection. It is safe to call more than once.
func (h *IdleHeld) Close() error {
	var errs []error
	for _, c := range h.conns {
		if c != nil {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	h.conns = nil
	return errors.Join(errs...)
}
