package epollsplice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/internal/proof"
	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

// patience bounds every wait for something that must happen; generous, as CI
// is a busy 2-core machine.
const patience = 30 * time.Second

// newTestEngine makes an engine with cfg; t.Cleanup closes it and then
// checks that every pipe it made is closed.
func newTestEngine(t *testing.T, opts relay.Options, cfg config) *reactor.Engine {
	t.Helper()
	if cfg.pipeSize == 0 {
		cfg.pipeSize = DefaultPipeSize
	}
	pipes := countPipes(t)
	e, err := newEngineWith(opts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		if got := countPipes(t); got != pipes {
			t.Errorf("pipe fds after Close: %d, before the engine: %d", got, pipes)
		}
	})
	return e
}

// countPipes counts the process's open pipe fds.
func countPipes(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + ent.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or patience runs out: for state the
// loop changes on its own goroutine after what the test can see.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// TestSplices proves that epollsplice moves bytes with splice(2) only:
// moving N bytes adds about N to the process's read(2) byte count (the
// test's own receiver), not the 2N of a user-space copy; spliced_bytes is
// exactly N and copied_bytes 0; and no pipe is held once the pair has ended.
func TestSplices(t *testing.T) {
	const n = enginetest.LargePayload
	e := newTestEngine(t, relay.Options{}, config{})
	delta := proof.ReadDuring(t, e, n, 1)
	if delta >= n+n/2 {
		t.Errorf("read(2) returned %d bytes for %d relayed: the engine copied through user space", delta, n)
	}
	c := e.Counters()
	t.Logf("counters: %v", c)
	for _, want := range []struct {
		name string
		v    uint64
	}{
		{name: CounterSplicedBytes, v: n},
		{name: CounterCopiedBytes, v: 0},
		{name: CounterCopyFallbacks, v: 0},
		{name: CounterReadCalls, v: 0},
		{name: CounterPipesInUse, v: 0},
		{name: CounterBuffersInUse, v: 0},
	} {
		if got := c[want.name]; got != want.v {
			t.Errorf("%s = %d, want %d", want.name, got, want.v)
		}
	}
	for _, name := range []string{CounterSpliceInCalls, CounterSpliceOutCalls, reactor.CounterEpollWaits} {
		if c[name] == 0 {
			t.Errorf("%s = 0, want it counted", name)
		}
	}
}

// pattern is the byte at offset i of the slow-reader stream.
func pattern(i int64) byte { return byte(i*7 + i>>11) }

// relayPair connects two loopback connections with all four sockets'
// buffers pinned to buf (no autotuning), relays the accepted ends on e and
// returns the dialled ends and a channel for the pair's Result.
func relayPair(t *testing.T, e relay.Engine, buf int) (c1, c2 *net.TCPConn, res <-chan relay.Result) {
	t.Helper()
	conn := func() (dialled, accepted *net.TCPConn) {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		dialled, err = net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dialled.Close() })
		accepted, err = ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*net.TCPConn{dialled, accepted} {
			if err := c.SetReadBuffer(buf); err != nil {
				t.Fatal(err)
			}
			if err := c.SetWriteBuffer(buf); err != nil {
				t.Fatal(err)
			}
		}
		// A stalled engine fails the test with a timeout, never hangs it.
		dialled.SetDeadline(time.Now().Add(2 * patience))
		return dialled, accepted
	}
	c1, a := conn()
	c2, b := conn()
	ch := make(chan relay.Result, 1)
	e.Relay(a, b, func(r relay.Result) { ch <- r })
	return c1, c2, ch
}

// A fast writer and a reader that stops: the direction's pipe fills, the
// destination says EAGAIN and the bytes stay parked in the pipe (one pipe in
// use) while the writer is held off by TCP. When the reader comes back, the
// parked bytes must be drained on EPOLLOUT and the source, whose bytes raised
// their edge long ago, read again: a lost edge would stall the pair here
// until the deadline. The reader then reads in small pieces, so the pipe is
// parked and resumed many times. Every byte must arrive in order, and the
// pair, idle again, must hold no pipe.
func TestSlowReaderResumes(t *testing.T) {
	const total = 24 << 20
	e := newTestEngine(t, relay.Options{}, config{})
	c1, c2, res := relayPair(t, e, 64<<10)

	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		for off := int64(0); off < total; {
			k := min(int64(len(buf)), total-off)
			for i := range k {
				buf[i] = pattern(off + i)
			}
			n, err := c1.Write(buf[:k])
			off += int64(n)
			if err != nil {
				sent <- err
				return
			}
		}
		sent <- c1.CloseWrite()
	}()

	// The stall: wait until the pipe holds bytes the reader will not take.
	stalled := func() bool {
		c := e.Counters()
		return c[reactor.CounterEAGAINWrites] > 0 && c[CounterPipesInUse] == 1
	}
	if !eventually(stalled) {
		t.Fatalf("the pair never stalled on the reader: %v", e.Counters())
	}
	stalls := e.Counters()[reactor.CounterEAGAINWrites]

	// The slow reader: small reads, to the end.
	buf := make([]byte, 4<<10)
	var got int64
	for {
		n, err := c2.Read(buf)
		for i := range n {
			if buf[i] != pattern(got+int64(i)) {
				t.Fatalf("byte %d: got %#x, want %#x", got+int64(i), buf[i], pattern(got+int64(i)))
			}
		}
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v (counters %v)", got, total, err, e.Counters())
		}
	}
	if got != total {
		t.Fatalf("received %d bytes, want %d", got, total)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	c := e.Counters()
	t.Logf("counters: %v", c)
	if c[reactor.CounterEAGAINWrites] <= stalls {
		t.Errorf("%s = %d: the pipe was never parked again after the first stall", reactor.CounterEAGAINWrites, c[reactor.CounterEAGAINWrites])
	}
	if c[CounterSplicedBytes] != total || c[CounterCopiedBytes] != 0 {
		t.Errorf("spliced %d, copied %d bytes; want %d spliced, none copied", c[CounterSplicedBytes], c[CounterCopiedBytes], total)
	}

	// Idle, the pair holds no pipe, and still relays the other way.
	if !eventually(func() bool { return e.Counters()[CounterPipesInUse] == 0 }) {
		t.Errorf("idle pair: %s = %d, want 0", CounterPipesInUse, e.Counters()[CounterPipesInUse])
	}
	if _, err := c2.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if err := c2.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(c1)
	if err != nil || string(back) != "pong" {
		t.Fatalf("b→a after the stall: %q, %v; want \"pong\"", back, err)
	}
	select {
	case r := <-res:
		if r.Err != nil || r.AtoB != total || r.BtoA != 4 {
			t.Errorf("Result %+v, want %d bytes a→b, 4 b→a, no error", r, total)
		}
	case <-time.After(patience):
		t.Fatalf("done not called within %v", patience)
	}
}

// A pipe is pooled only when empty: one Put back with bytes parked (its pair
// aborted) is closed, so its bytes can never reach another connection.
func TestParkedPipeNotPooled(t *testing.T) {
	pipes := countPipes(t)
	p := newPipePool(DefaultPipeSize, newPipe, &fallbackLog{log: slog.New(slog.DiscardHandler)})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := unix.Write(fds[0], []byte("parked")); err != nil {
		t.Fatal(err)
	}

	c, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	pc, ok := c.(*pipeConduit)
	if !ok {
		t.Fatalf("Get returned a %T, want a pipe", c)
	}
	if n, err := c.Fill(fds[1]); n != 6 || err != nil || c.Len() != 6 {
		t.Fatalf("Fill: %d, %v, Len %d; want 6 bytes parked", n, err, c.Len())
	}
	p.Put(c)
	if len(p.free) != 0 || pc.r != -1 || pc.w != -1 {
		t.Errorf("a pipe with bytes in it was kept (free %d, fds %d %d), want it closed", len(p.free), pc.r, pc.w)
	}

	// An empty one is kept, and handed out again.
	c, err = p.Get()
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	if len(p.free) != 1 {
		t.Errorf("an emptied pipe was not kept: free %d, want 1", len(p.free))
	}
	if again, _ := p.Get(); again != c {
		t.Errorf("Get did not reuse the kept pipe")
	} else {
		p.Put(again)
	}
	m := map[string]uint64{}
	p.AddCounters(m)
	if m[CounterPipesInUse] != 0 {
		t.Errorf("%s = %d with every pipe Put, want 0", CounterPipesInUse, m[CounterPipesInUse])
	}
	p.Close()
	if got := countPipes(t); got != pipes {
		t.Errorf("pipe fds after Close: %d, before: %d", got, pipes)
	}
}

// warnCounter is a slog.Handler that counts warnings.
type warnCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnCounter) WithGroup(string) slog.Handler            { return w }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.mu.Lock()
		w.msgs = append(w.msgs, r.Message)
		w.mu.Unlock()
	}
	return nil
}

func (w *warnCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// When no full-size pipe can be had (an unprivileged user over
// fs.pipe-user-pages-soft: EPERM from F_SETPIPE_SZ, or a one-page pipe), the
// engine copies instead, counts it, logs it once, and closes the pipes it
// could not use. The allocator is faked, as the test runs as root.
func TestCopyFallback(t *testing.T) {
	const n = 4 << 20
	for _, tc := range []struct {
		name  string
		alloc pipeAllocator
	}{
		{name: "eperm", alloc: func(int) (int, int, error) {
			var fds [2]int
			if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				return -1, -1, err
			}
			return fds[0], fds[1], os.NewSyscallError("fcntl F_SETPIPE_SZ", unix.EPERM)
		}},
		{name: "one_page", alloc: func(int) (int, int, error) {
			return newPipe(4096)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var allocs atomic.Int64
			alloc := func(size int) (int, int, error) {
				allocs.Add(1)
				return tc.alloc(size)
			}
			warns := &warnCounter{}
			e := newTestEngine(t, relay.Options{Logger: slog.New(warns)}, config{alloc: alloc})
			// Two pairs, to show that the warning is not repeated.
			delta := proof.ReadDuring(t, e, n, 2)
			if delta < 2*2*n {
				t.Errorf("read(2) returned %d bytes for %d relayed, want at least %d: the fallback did not copy", delta, 2*n, 4*n)
			}
			c := e.Counters()
			t.Logf("counters: %v, allocator calls %d", c, allocs.Load())
			for _, want := range []struct {
				name string
				v    uint64
			}{
				{name: CounterCopiedBytes, v: 2 * n},
				{name: CounterSplicedBytes, v: 0},
				{name: CounterSpliceInCalls, v: 0},
				{name: CounterPipesInUse, v: 0},
				{name: CounterBuffersInUse, v: 0},
			} {
				if got := c[want.name]; got != want.v {
					t.Errorf("%s = %d, want %d", want.name, got, want.v)
				}
			}
			if c[CounterCopyFallbacks] == 0 {
				t.Errorf("%s = 0, want the fallback counted", CounterCopyFallbacks)
			}
			if allocs.Load() == 0 {
				t.Errorf("the pipe allocator was never called")
			}
			if got := warns.count(); got != 1 {
				t.Errorf("%d warnings logged (%q), want exactly 1", got, warns.msgs)
			}
		})
	}
}

// PipeSizeEnv is read when the engine is made; a bad value is a config error
// naming the variable.
func TestPipeSizeEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int
		bad   bool
	}{
		{value: "", want: DefaultPipeSize},
		{value: "1048576", want: 1 << 20},
		{value: "4096", want: 4096},
		{value: "4095", bad: true},
		{value: "64k", bad: true},
		{value: "-1", bad: true},
	} {
		t.Setenv(PipeSizeEnv, tc.value)
		got, err := pipeSize()
		switch {
		case tc.bad && !errors.Is(err, relay.ErrConfig):
			t.Errorf("%s=%q: err %v, want relay.ErrConfig", PipeSizeEnv, tc.value, err)
		case tc.bad && !strings.Contains(err.Error(), PipeSizeEnv):
			t.Errorf("%s=%q: error %q does not name the variable", PipeSizeEnv, tc.value, err)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("%s=%q: %d, %v; want %d", PipeSizeEnv, tc.value, got, err, tc.want)
		}
	}
}
