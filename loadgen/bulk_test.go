package loadgen

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// bulkDuration is how long each stream of a Bulk test moves bytes: long
// enough for many chunks, short enough to keep the tests quick.
const bulkDuration = 250 * time.Millisecond

func newSource(t *testing.T) *Source {
	t.Helper()
	s, err := NewSource("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bulkBackend is the backend a Bulk run of one direction needs, with the
// check that compares its record with the loadgen's.
type bulkBackend struct {
	addr   string
	verify func(ctx context.Context, local []Stream) error
	close  func()
}

func startBulkBackend(t *testing.T, dir Direction) bulkBackend {
	t.Helper()
	switch dir {
	case Up:
		s := newSink(t)
		return bulkBackend{
			addr: s.Addr().String(),
			verify: func(ctx context.Context, local []Stream) error {
				got, err := s.Wait(ctx, len(local))
				if err != nil {
					return err
				}
				return VerifyReceived(local, got)
			},
			close: func() { s.Close() },
		}
	case Down:
		s := newSource(t)
		return bulkBackend{
			addr: s.Addr().String(),
			verify: func(ctx context.Context, local []Stream) error {
				got, err := s.Wait(ctx, len(local))
				if err != nil {
					return err
				}
				return VerifySent(local, got)
			},
			close: func() { s.Close() },
		}
	}
	t.Fatalf("no backend for %v", dir)
	return bulkBackend{}
}

// waitGoroutinesBackTo waits until no more than base goroutines run. A
// goroutine that has signalled its end may still be returning, so the count
// is polled, for as long as generous allows.
func waitGoroutinesBackTo(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBulk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     Direction
		streams int
	}{
		{name: "dir=up/streams=1", dir: Up, streams: 1},
		{name: "dir=up/streams=4", dir: Up, streams: 4},
		{name: "dir=down/streams=1", dir: Down, streams: 1},
		{name: "dir=down/streams=4", dir: Down, streams: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			be := startBulkBackend(t, tc.dir)
			res, err := Bulk{Addr: be.addr, Streams: tc.streams, Direction: tc.dir, Duration: bulkDuration}.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(res.Streams) != tc.streams {
				t.Fatalf("%d streams in the result, want %d", len(res.Streams), tc.streams)
			}
			var sum int64
			for i, st := range res.Streams {
				if st.Bytes == 0 {
					t.Errorf("stream %d moved nothing", i)
				}
				sum += st.Bytes
			}
			if res.Bytes != sum {
				t.Errorf("Bytes %d, but the streams add up to %d", res.Bytes, sum)
			}
			// Every stream moves bytes for the whole Duration after
			// the start, so Elapsed cannot be shorter.
			if res.Elapsed < bulkDuration {
				t.Errorf("Elapsed %v, shorter than the %v Duration", res.Elapsed, bulkDuration)
			}
			if res.MBps <= 0 {
				t.Errorf("MBps %v", res.MBps)
			}
			if err := be.verify(ctx, res.Streams); err != nil {
				t.Errorf("verify: %v", err)
			}
			t.Logf("%d bytes in %v: %.0f MB/s", res.Bytes, res.Elapsed, res.MBps)
			be.close()
			waitGoroutinesBackTo(t, base)
		})
	}
}

// A faultKind is what a faultProxy does to a byte stream.
type faultKind int

const (
	flipByte  faultKind = iota // flip the low bit of the byte at offset at
	cutStream                  // forward at bytes, then close both sides
)

// faultProxy forwards every connection to target faithfully, half-close
// included, except for one fault at byte offset at of each direction that
// gets that far.
type faultProxy struct {
	ln     net.Listener
	target string
	fault  faultKind
	at     int64
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // live, both sides; closed by close
}

func newFaultProxy(t *testing.T, target string, fault faultKind, at int64) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, fault: fault, at: at, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go p.serve(c)
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) track(c net.Conn, live bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if live {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *faultProxy) serve(a net.Conn) {
	defer p.wg.Done()
	p.track(a, true)
	defer p.track(a, false)
	defer a.Close()
	b, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(b, true)
	defer p.track(b, false)
	defer b.Close()
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(b, a) }()
	go func() { defer both.Done(); p.pipe(a, b) }()
	both.Wait()
}

// pipe copies src to dst, applying the fault.
func (p *faultProxy) pipe(dst, src net.Conn) {
	abort := func() { src.Close(); dst.Close() } // ends the other pipe too
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := src.Read(buf)
		chunk := buf[:n]
		if p.at >= off && p.at < off+int64(n) {
			switch p.fault {
			case flipByte:
				chunk[p.at-off] ^= 1
			case cutStream:
				dst.Write(chunk[:p.at-off])
				abort()
				return
			}
		}
		if _, werr := dst.Write(chunk); werr != nil {
			abort()
			return
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			dst.(*net.TCPConn).CloseWrite()
			return
		}
		if err != nil {
			abort()
			return
		}
	}
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestBulkDetectsCorruption(t *testing.T) {
	for _, dir := range []Direction{Up, Down} {
		t.Run("dir="+dir.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			be := startBulkBackend(t, dir)
			// Past a Down stream's request, which must arrive intact.
			const at = 4099
			p := newFaultProxy(t, be.addr, flipByte, at)
			res, err := Bulk{Addr: p.addr(), Streams: 2, Direction: dir, Duration: bulkDuration}.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			for i, st := range res.Streams {
				if st.Bytes <= at {
					t.Fatalf("stream %d moved %d bytes, never reaching the fault at %d", i, st.Bytes, at)
				}
			}
			err = be.verify(ctx, res.Streams)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("verify after a flipped byte returned %v, want ErrMismatch", err)
			}
			t.Log(err)
		})
	}
}

func TestBulkDetectsTruncation(t *testing.T) {
	for _, dir := range []Direction{Up, Down} {
		t.Run("dir="+dir.String(), func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			be := startBulkBackend(t, dir)
			p := newFaultProxy(t, be.addr, cutStream, 10000)
			res, err := Bulk{Addr: p.addr(), Direction: dir, Duration: bulkDuration}.Run(ctx)
			if err != nil {
				// Up: the writer meets the closed proxy.
				t.Logf("Run: %v", err)
			} else {
				// Down: the loadgen read a clean EOF after the cut;
				// only the comparison can tell.
				err = be.verify(ctx, res.Streams)
				if !errors.Is(err, ErrMismatch) {
					t.Fatalf("verify after a cut stream returned %v, want ErrMismatch", err)
				}
				t.Log(err)
			}
			p.close()
			be.close()
			waitGoroutinesBackTo(t, base)
		})
	}
}

func TestBulkStopsWithContext(t *testing.T) {
	t.Run("dir=up", func(t *testing.T) {
		base := runtime.NumGoroutine()
		// A backend that reads one byte of each stream, proving every
		// writer has started, and no more: the writers fill the socket
		// buffers and block until the cancel.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		held := make(chan net.Conn, 2)
		go func() {
			for range 2 {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held <- c
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err != nil {
					return
				}
			}
			cancel()
		}()
		res, err := Bulk{Addr: ln.Addr().String(), Streams: 2, Direction: Up, Duration: time.Hour}.Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		t.Logf("%v after %d bytes", err, res.Bytes)
		ln.Close()
		for range 2 {
			(<-held).Close()
		}
		waitGoroutinesBackTo(t, base)
	})
	t.Run("dir=down", func(t *testing.T) {
		base := runtime.NumGoroutine()
		s := newSource(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Bulk{Addr: s.Addr().String(), Streams: 2, Direction: Down, Duration: time.Hour}.Run(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
		}
		// Whatever the Source had started is cut short, not complete.
		s.Close()
		for i, r := range s.Sent() {
			if r.Err == nil {
				t.Errorf("source stream %d cut short reported no error", i)
			}
		}
		waitGoroutinesBackTo(t, base)
	})
}

func TestBulkRejectsBadConfig(t *testing.T) {
	// Addr is empty: a config error must come before any dial.
	for _, b := range []Bulk{
		{Streams: -1},
		{Duration: -time.Second},
		{Direction: Direction(7)},
	} {
		if _, err := b.Run(context.Background()); err == nil {
			t.Errorf("%+v ran", b)
		}
	}
}

func TestBulkDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{Up: "up", Down: "down", 7: "Direction(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction %d is %q, want %q", int(d), got, want)
		}
	}
}

func TestBulkVerifyStreams(t *testing.T) {
	a, b, c := Checksum([]byte("a")), Checksum([]byte("bb")), Checksum([]byte("ccc"))
	for _, tc := range []struct {
		name          string
		local, remote []Stream
		ok            bool
	}{
		{name: "none", ok: true},
		{name: "same_order", local: []Stream{a, b, c}, remote: []Stream{a, b, c}, ok: true},
		{name: "other_order", local: []Stream{a, b, c}, remote: []Stream{c, a, b}, ok: true},
		{name: "duplicates", local: []Stream{a, a, b}, remote: []Stream{a, b, a}, ok: true},
		{name: "duplicate_counts_differ", local: []Stream{a, a, b}, remote: []Stream{a, b, b}},
		{name: "one_changed", local: []Stream{a, b}, remote: []Stream{a, {Bytes: b.Bytes, Sum: b.Sum ^ 1}}},
		{name: "one_missing", local: []Stream{a, b}, remote: []Stream{a}},
		{name: "one_extra", local: []Stream{a}, remote: []Stream{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyStreams(tc.local, tc.remote)
			if tc.ok && err != nil {
				t.Errorf("VerifyStreams: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrMismatch) {
				t.Errorf("VerifyStreams returned %v, want ErrMismatch", err)
			}
		})
	}

	// A remote stream that ended with an error fails even when its bytes
	// match, and the error says why.
	reset := errors.New("connection reset")
	err := VerifyReceived([]Stream{a}, []Received{{Stream: a, Err: reset}})
	if !errors.Is(err, ErrMismatch) || !errors.Is(err, reset) {
		t.Errorf("VerifyReceived returned %v, want ErrMismatch wrapping the stream's error", err)
	}
	err = VerifySent([]Stream{a}, []Sent{{Stream: a, Err: reset}})
	if !errors.Is(err, ErrMismatch) || !errors.Is(err, reset) {
		t.Errorf("VerifySent returned %v, want ErrMismatch wrapping the stream's error", err)
	}
	if err := VerifySent([]Stream{a, b}, []Sent{{Stream: b}, {Stream: a}}); err != nil {
		t.Errorf("VerifySent: %v", err)
	}
}

func TestSourceRequestLayout(t *testing.T) {
	f := Fetch{Bytes: 0x0102030405060708, Duration: 1500 * time.Millisecond}
	req, err := f.request()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "46535243" + "0102030405060708" + "0000000059682f00" // "FSRC", bytes, 1.5e9 ns
	if got := hex.EncodeToString(req[:]); got != golden {
		t.Errorf("request is %s, want %s", got, golden)
	}
	w, err := parseRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if w.Bytes != f.Bytes || w.Duration != f.Duration {
		t.Errorf("parsed %+v from %+v", w, f)
	}

	for _, bad := range []Fetch{{}, {Bytes: -1}, {Duration: -1}, {Bytes: 1, Duration: -1}} {
		if _, err := bad.request(); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v encoded with error %v, want ErrBadRequest", bad, err)
		}
	}
	for name, hexReq := range map[string]string{
		"bad_magic":          "46535244" + "0000000000000001" + "0000000000000000",
		"no_limit":           "46535243" + "0000000000000000" + "0000000000000000",
		"bytes_over_int64":   "46535243" + "8000000000000000" + "0000000000000000",
		"duration_over_int6": "46535243" + "0000000000000001" + "8000000000000000",
	} {
		b, err := hex.DecodeString(hexReq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseRequest([requestLen]byte(b)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: parse returned %v, want ErrBadRequest", name, err)
		}
	}
}

// patternStream is the Stream of the first n bytes a Writer sends.
func patternStream(n int64) Stream {
	var s Stream
	for n > 0 {
		p := pattern[:min(n, int64(len(pattern)))]
		s.add(p)
		n -= int64(len(p))
	}
	return s
}

func TestSourceFetch(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Fetch
	}{
		{name: "bytes=1", f: Fetch{Bytes: 1}},
		{name: "bytes=chunk+1", f: Fetch{Bytes: chunkSize + 1}},
		{name: "bytes=2_patterns", f: Fetch{Bytes: 2*int64(len(pattern)) + 5}},
		{name: "duration=50ms", f: Fetch{Duration: 50 * time.Millisecond}},
		{name: "bytes_before_duration", f: Fetch{Bytes: 1000, Duration: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			s := newSource(t)
			c := dial(t, s.Addr())
			got, err := tc.f.Run(ctx, c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			c.Close()
			if tc.f.Bytes > 0 {
				if want := patternStream(tc.f.Bytes); got != want {
					t.Errorf("read %+v, want %+v", got, want)
				}
			} else if got != patternStream(got.Bytes) {
				t.Errorf("read %d bytes that are not the pattern", got.Bytes)
			}
			sent, err := s.Wait(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if sent[0].Err != nil || sent[0].Stream != got {
				t.Errorf("source sent %+v, fetch read %+v", sent[0], got)
			}
		})
	}
}

func TestSourceRefusesBadRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	s := newSource(t)
	c := dial(t, s.Addr())
	// A Writer pointed at a Source by mistake.
	if _, err := c.Write(pattern[:requestLen]); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(sent[0].Err, ErrBadRequest) || sent[0].Bytes != 0 {
		t.Errorf("source recorded %+v, want nothing sent and ErrBadRequest", sent[0])
	}
	// The Source closed without writing a byte.
	c.SetReadDeadline(time.Now().Add(generous))
	if b, err := io.ReadAll(c); len(b) > 0 {
		t.Errorf("read %d bytes (%v) from a refused connection", len(b), err)
	}
}

func TestSourceCloseEndsLiveStreams(t *testing.T) {
	s, err := NewSource("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	req, err := Fetch{Duration: time.Hour}.request()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	// The first byte proves the stream is running.
	c.SetReadDeadline(time.Now().Add(generous))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first[:], pattern[:1]) {
		t.Errorf("first byte %#x, want the pattern's %#x", first[0], pattern[0])
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(generous):
		t.Fatal("Close did not return")
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].Err == nil {
		t.Errorf("a stream cut by Close was recorded as %+v", sent)
	}
}
