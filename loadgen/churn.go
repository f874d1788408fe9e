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
	// defaultChurnSize is a request that fits one segment, so a cycle
	// costs the relay a connection, not bytes.
	defaultChurnSize = 64
	// maxChurnSize keeps a cycle simple: each worker writes all of Size
	// before it reads, which cannot deadlock as long as the echoed bytes
	// fit the buffers on the way back; with Linux's defaults the client's
	// receive buffer and the echo's send buffer alone hold more than
	// this, and a relay only adds buffers. Churn measures connections;
	// Bulk measures bytes.
	maxChurnSize = 64 << 10
	// defaultChurnDuration matches the other workloads.
	defaultChurnDuration = 5 * time.Second
)

// Churn is a closed-loop connection workload: Conns workers each open a new
// TCP connection, write Size bytes, half-close, read the whole echo back,
// check it and close, over and over. Point it at an Echo, directly or
// through a relay; it measures how fast connections are set up, carried and
// torn down, half-close included.
//
// # TIME_WAIT and the ephemeral port range
//
// Each cycle ends with an orderly close, and the cycle's client port then
// sits in TIME_WAIT for 60 s. That is forced by the half-close, not chosen
// at close time: the client sends the first FIN (CloseWrite), so when the
// echo's FIN arrives the kernel moves the socket to TIME_WAIT at once,
// before the client has even read the EOF. The usual harness trick,
// SO_LINGER 0 to reset instead of closing, does nothing by then (there is
// no connection left to reset); it would help only if the client reset
// without ever half-closing, which would stop testing how a relay carries a
// half-close, the part of the contract that tunnels get wrong.
//
// The limit that follows: connect needs a local port not in TIME_WAIT
// towards the same address, and Linux has 28232 (32768-60999). With
// net.ipv4.tcp_tw_reuse=2, the Linux default, connect reuses a loopback
// TIME_WAIT port once it is a second old, so a loopback target sustains
// up to about 28000 cycles per second (a 2-core machine ran 7000/s for 8 s,
// 52000 cycles, without an error). Towards another host, set tcp_tw_reuse=1 on the
// load machine, or expect about 28000 cycles in a burst and then 470/s
// (28232 ports / 60 s); beyond that dials fail with EADDRNOTAVAIL, which
// Run counts and reports through ErrTooManyErrors. A relay that passes the
// client's FIN on to the backend first is the active closer on that side
// and meets the same limit there; that is part of what churn measures.
type Churn struct {
	// Addr is the host:port to connect to: a relay's public port, or an
	// Echo.
	Addr string
	// Size is how many bytes each connection sends and expects back. Zero
	// means 64; at most 64 KiB.
	Size int
	// Conns is how many workers cycle connections at once. Zero means 1.
	Conns int
	// Duration is how long cycles are measured, after Warmup. Zero means
	// 5 s.
	Duration time.Duration
	// Warmup is how long cycles run, unmeasured, before Duration starts.
	// Zero means none.
	Warmup time.Duration
}

// ChurnResult is what a Churn workload measured. Only cycles that started
// (began dialling) after Warmup and finished within Duration count; one
// still running when Duration ends is cut off and counts nowhere.
type ChurnResult struct {
	// Conns is how many connect-send-receive-close cycles completed;
	// Errors is how many failed (a refused or failed dial, a reset, a
	// timeout).
	Conns, Errors int64
	// Elapsed is the measured period: Duration, unless ctx ended it or a
	// mismatch stopped the run first.
	Elapsed time.Duration
	// Rate is Conns per second of Elapsed.
	Rate float64
	// Connect is the time to dial: from starting the dial to connected.
	Connect *Histogram
	// FirstByte is from starting the dial to reading the first byte of
	// the echo: connect, send and the first byte's way back.
	FirstByte *Histogram
	// Total is from starting the dial to reading the echo's EOF.
	Total *Histogram
}

// Run cycles connections until Warmup and Duration have passed or ctx
// ends, and returns what was measured. Every echo is checked: a byte that
// differs, or an echo that ends early or runs long, ends the run at once
// with an error wrapping ErrMismatch. Failed cycles are counted in Errors;
// if they are more than one in a hundred, or the first cycle fails before
// any has succeeded, Run returns an error wrapping ErrTooManyErrors and the
// first failure. If ctx ends first, Run returns what it measured until
// then and ctx's error. Every connection is closed and every goroutine Run
// started has ended when it returns.
func (c Churn) Run(ctx context.Context) (ChurnResult, error) {
	size, conns, dur := c.Size, c.Conns, c.Duration
	if size == 0 {
		size = defaultChurnSize
	}
	if conns == 0 {
		conns = 1
	}
	if dur == 0 {
		dur = defaultChurnDuration
	}
	switch {
	case c.Addr == "":
		return ChurnResult{}, errors.New("loadgen: churn: Addr is empty")
	case size < 0 || size > maxChurnSize:
		return ChurnResult{}, fmt.Errorf("loadgen: churn: Size %d: want 0 to %d", c.Size, maxChurnSize)
	case conns < 0:
		return ChurnResult{}, fmt.Errorf("loadgen: churn: Conns %d: want 0 or more", c.Conns)
	case dur < 0:
		return ChurnResult{}, fmt.Errorf("loadgen: churn: Duration %v: want 0 or more", c.Duration)
	case c.Warmup < 0:
		return ChurnResult{}, fmt.Errorf("loadgen: churn: Warmup %v: want 0 or more", c.Warmup)
	}

	from := time.Now().Add(c.Warmup)
	planned := from.Add(dur)
	// runCtx ends the run: at planned, when ctx ends, or on a mismatch.
	// ctx may have an earlier deadline; end is whichever comes first.
	runCtx, cancel := context.WithDeadline(ctx, planned)
	defer cancel()
	end, _ := runCtx.Deadline()
	fail := &failures{what: "cycles", target: c.Addr, abort: cancel}

	workers := make([]*churnWorker, conns)
	for i := range workers {
		workers[i] = &churnWorker{
			buf:       make([]byte, size),
			connect:   NewHistogram(),
			firstByte: NewHistogram(),
			total:     NewHistogram(),
		}
	}
	// The dial is cut short by runCtx itself; a cycle's reads and writes
	// by the deadline stop puts in the past.
	stopped := make(chan struct{})
	stop := context.AfterFunc(runCtx, func() {
		for _, w := range workers {
			w.stop()
		}
		close(stopped)
	})
	// No TCP keep-alive: a connection lives a few round trips, and the
	// socket options would cost every dial system calls.
	dialer := &net.Dialer{KeepAlive: -1}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(runCtx, dialer, c.Addr, pattern[:size], from, end, fail)
		}()
	}
	wg.Wait()
	if !stop() {
		<-stopped
	}

	res := ChurnResult{
		Elapsed:   measured(from, end),
		Connect:   NewHistogram(),
		FirstByte: NewHistogram(),
		Total:     NewHistogram(),
	}
	for _, w := range workers {
		res.Conns += w.conns
		res.Errors += w.errors
		res.Connect.Merge(w.connect)
		res.FirstByte.Merge(w.firstByte)
		res.Total.Merge(w.total)
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.Rate = float64(res.Conns) / s
	}
	return res, fail.result(ctxEnded(ctx, planned), res.Conns, res.Errors)
}

// churnWorker is one closed loop of cycles. Its counters, Histograms and
// buf (the echo is read into it; len(buf) is Size) are its own, merged
// after it returns; only conn is shared, with stop.
type churnWorker struct {
	conns, errors             int64
	connect, firstByte, total *Histogram
	buf                       []byte

	mu      sync.Mutex
	stopped bool
	conn    net.Conn // the current cycle's connection, nil between cycles
}

func (w *churnWorker) run(ctx context.Context, d *net.Dialer, addr string, payload []byte, from, end time.Time, fail *failures) {
	for {
		start := time.Now()
		if runOver(ctx, start, end) {
			return
		}
		t, err := w.cycle(ctx, d, addr, payload)
		if runOver(ctx, time.Now(), end) {
			// Cut off by the end of the run, or finished just after it:
			// neither a sample nor a failure.
			return
		}
		if errors.Is(err, ErrMismatch) {
			fail.fatal(err)
			return
		}
		counted := !start.Before(from)
		if err != nil {
			if counted {
				w.errors++
			}
			fail.failed(err)
			continue
		}
		fail.succeeded()
		if counted {
			w.conns++
			w.connect.Record(t.connect)
			w.firstByte.Record(t.firstByte)
			w.total.Record(t.total)
		}
	}
}

// churnTimes are one cycle's durations, each from the start of the dial.
type churnTimes struct {
	connect, firstByte, total time.Duration
}

// cycle is one connection: dial, write payload, half-close, read the echo
// to EOF, checking it against payload, close.
func (w *churnWorker) cycle(ctx context.Context, d *net.Dialer, addr string, payload []byte) (churnTimes, error) {
	var t churnTimes
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return t, err
	}
	t.connect = time.Since(start)
	if !w.hold(c) {
		return t, net.ErrClosed // the run is over; run ignores this
	}
	// An orderly close; see Churn on why not a reset. After EOF nothing is
	// left unread either way.
	defer w.release(c)

	if _, err := c.Write(payload); err != nil {
		return t, err
	}
	if err := c.(closeWriter).CloseWrite(); err != nil {
		return t, err
	}
	got := 0
	var extra [1]byte
	for {
		p := w.buf[got:]
		if len(p) == 0 {
			// All of payload is back: read on into a spare byte, to see
			// EOF rather than more echo than was sent.
			p = extra[:]
		}
		n, err := c.Read(p)
		if n > 0 {
			if got == 0 {
				t.firstByte = time.Since(start)
			}
			if got+n > len(payload) {
				return t, fmt.Errorf("%w: churn: echo longer than the %d bytes sent", ErrMismatch, len(payload))
			}
			if !bytes.Equal(p[:n], payload[got:got+n]) {
				return t, fmt.Errorf("%w: churn: echo differs within bytes %d to %d of %d", ErrMismatch, got, got+n, len(payload))
			}
			got += n
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return t, err
		}
	}
	if got < len(payload) {
		return t, fmt.Errorf("%w: churn: echo ended after %d of %d bytes", ErrMismatch, got, len(payload))
	}
	t.total = time.Since(start)
	return t, nil
}

// hold makes c the connection stop cuts short, unless the run has already
// stopped: then it closes c and returns false.
func (w *churnWorker) hold(c net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		c.Close()
		return false
	}
	w.conn = c
	return true
}

// release forgets and closes c.
func (w *churnWorker) release(c net.Conn) {
	w.mu.Lock()
	w.conn = nil
	w.mu.Unlock()
	c.Close()
}

// stop ends the worker's current cycle, if any, by putting its
// connection's deadline in the past, and keeps a later one from starting
// its I/O.
func (w *churnWorker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.conn != nil {
		w.conn.SetDeadline(time.Unix(1, 0))
	}
}
