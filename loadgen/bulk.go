package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Direction says which way a Bulk workload's bytes flow.
type Direction int

const (
	// Up: the loadgen writes and the backend, a Sink, reads.
	Up Direction = iota
	// Down: the backend, a Source, writes and the loadgen reads.
	Down
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// defaultBulkDuration is long enough for TCP to leave slow start and for a
// relay's steady state to dominate the figure.
const defaultBulkDuration = 5 * time.Second

// Bulk moves bytes one way over parallel TCP streams for a while, to measure
// throughput through a relay. The zero value (but for Addr) is one upload of
// 5 s.
type Bulk struct {
	// Addr is where to dial: the relay's public port, or the backend
	// directly. The backend is a Sink for Up and a Source for Down.
	Addr string
	// Streams is how many TCP streams run in parallel. Zero means 1.
	Streams int
	// Direction is which way the bytes flow. Zero means Up.
	Direction Direction
	// Duration is how long each stream moves bytes. Zero means 5 s.
	Duration time.Duration
}

// BulkResult is what a Bulk run saw from the loadgen's side. To prove the
// bytes arrived intact, compare Streams with the backend's record:
// VerifyReceived for Up, VerifySent for Down.
type BulkResult struct {
	// Bytes is what the loadgen wrote (Up) or read (Down), all streams.
	Bytes int64
	// Elapsed runs from the moment the first stream may move its first
	// byte (every stream is dialled before) to the end of the last
	// stream: for Up when the Sink has closed, so every byte is known to
	// have been read; for Down when EOF has been read.
	Elapsed time.Duration
	// Streams is, by stream index, what the loadgen sent (Up) or
	// received (Down).
	Streams []Stream
	// MBps is Bytes over Elapsed, in 10^6 bytes per second.
	MBps float64
}

// Run dials every stream, starts them together, and returns when all have
// ended cleanly, or when the first fails: then the others are cut short,
// and the error names the failed stream's index. No goroutine outlives Run,
// and every connection is closed. On error the result holds what the
// streams saw up to then. Give ctx a deadline: a stream whose peer stops
// (a Down stream pointed at a Sink, say) waits for it.
func (b Bulk) Run(ctx context.Context) (BulkResult, error) {
	n, dur := b.Streams, b.Duration
	if n == 0 {
		n = 1
	}
	if dur == 0 {
		dur = defaultBulkDuration
	}
	switch {
	case n < 0:
		return BulkResult{}, fmt.Errorf("loadgen: bulk: Streams %d: want 0 or more", b.Streams)
	case dur < 0:
		return BulkResult{}, fmt.Errorf("loadgen: bulk: Duration %v: want 0 or more", b.Duration)
	case b.Direction != Up && b.Direction != Down:
		return BulkResult{}, fmt.Errorf("loadgen: bulk: Direction %v: want up or down", b.Direction)
	}

	// Dial first, so that connection set-up, which a tunnel may make
	// slow, is not counted as transfer time.
	conns := make([]net.Conn, 0, n)
	var d net.Dialer
	for i := range n {
		c, err := d.DialContext(ctx, "tcp", b.Addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return BulkResult{}, fmt.Errorf("loadgen: bulk %v stream %d of %d: %w", b.Direction, i, n, err)
		}
		conns = append(conns, c)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := BulkResult{Streams: make([]Stream, n)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st Stream
			var err error
			switch b.Direction {
			case Up:
				st, err = Writer{Duration: dur}.Run(ctx, c)
				if err == nil {
					err = awaitClose(ctx, c)
				}
			case Down:
				st, err = Fetch{Duration: dur}.Run(ctx, c)
			}
			c.Close()
			res.Streams[i] = st // each goroutine owns its own element
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					// The first failure is the cause; the others
					// are most likely the cancel below.
					firstErr = fmt.Errorf("loadgen: bulk %v stream %d of %d: %w", b.Direction, i, n, err)
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for _, st := range res.Streams {
		res.Bytes += st.Bytes
	}
	if res.Elapsed > 0 {
		res.MBps = float64(res.Bytes) / 1e6 / res.Elapsed.Seconds()
	}
	return res, firstErr
}

// awaitClose waits for the peer of an upload to close, after the Writer
// half-closed c: a Sink closes only once it has read EOF, so then every byte
// is known to have been read, not merely queued in a socket buffer.
func awaitClose(ctx context.Context, c net.Conn) error {
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [512]byte
	n, err := c.Read(b[:])
	if n > 0 {
		return fmt.Errorf("loadgen: the peer of an upload sent %d bytes; a Sink never writes", n)
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return ctxOr(ctx, err)
}

// VerifyStreams reports whether local and remote hold the same streams, in
// any order, since parallel streams may finish in any order. Otherwise it
// returns an error wrapping ErrMismatch that lists the streams without a
// partner on either side.
func VerifyStreams(local, remote []Stream) error {
	unmatched := make(map[Stream]int, len(remote))
	for _, r := range remote {
		unmatched[r]++
	}
	var lonely []Stream // local streams with no equal remote stream
	for _, l := range local {
		if unmatched[l] > 0 {
			unmatched[l]--
			continue
		}
		lonely = append(lonely, l)
	}
	if len(lonely) == 0 && len(local) == len(remote) {
		return nil
	}
	var extra []Stream // remote streams with no equal local stream
	for _, r := range remote {
		if unmatched[r] > 0 {
			unmatched[r]--
			extra = append(extra, r)
		}
	}
	return fmt.Errorf("%w: %d local and %d remote streams; local without an equal remote: %s; remote without an equal local: %s",
		ErrMismatch, len(local), len(remote), listStreams(lonely), listStreams(extra))
}

// listStreams formats a few streams for an error message.
func listStreams(ss []Stream) string {
	if len(ss) == 0 {
		return "none"
	}
	const most = 4
	s := ""
	for i, st := range ss[:min(len(ss), most)] {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("{%d bytes, crc %#08x}", st.Bytes, st.Sum)
	}
	if len(ss) > most {
		s += fmt.Sprintf(" and %d more", len(ss)-most)
	}
	return s
}

// VerifyReceived compares the streams an upload sent with what a Sink
// received: every stream must have ended cleanly, and the two must be equal
// as VerifyStreams says.
func VerifyReceived(sent []Stream, received []Received) error {
	remote := make([]Stream, len(received))
	for i, r := range received {
		if r.Err != nil {
			return fmt.Errorf("%w: the sink's stream %d ended after %d bytes with: %w", ErrMismatch, i, r.Bytes, r.Err)
		}
		remote[i] = r.Stream
	}
	return VerifyStreams(sent, remote)
}

// VerifySent compares the streams a download received with what a Source
// sent: every stream must have ended cleanly, and the two must be equal as
// VerifyStreams says.
func VerifySent(received []Stream, sent []Sent) error {
	remote := make([]Stream, len(sent))
	for i, s := range sent {
		if s.Err != nil {
			return fmt.Errorf("%w: the source's stream %d ended after %d bytes with: %w", ErrMismatch, i, s.Bytes, s.Err)
		}
		remote[i] = s.Stream
	}
	return VerifyStreams(received, remote)
}
