package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"sync"
	"time"
)

const (
	defaultRRSize     = 64
	defaultRRDuration = 5 * time.Second

	// spinWindow is how close to a request's intended time the pacer stops
	// sleeping and starts spinning (yielding to other goroutines between
	// clock reads). Spinning costs CPU on a machine the relay under test
	// shares, so it is capped at this much per request: 50 µs per request
	// is 5 % of a core at 1000 requests/s per connection.
	spinWindow = 50 * time.Microsecond

	// lateAfter is how far behind its intended time a send must start to
	// count in RRResult.Late. It is above the Go runtime's timer
	// granularity: when a process is otherwise idle, a sleep on Linux can
	// end up to about 1 ms late (the poller waits in whole milliseconds),
	// and that alone should not count.
	lateAfter = 2 * time.Millisecond

	// drainLimit is how long after the measured period Run waits for the
	// answers still owed. Past it, each request still unanswered or not yet
	// sent counts as an error, so a relay that stops answering at the end
	// of a run cannot hide it by holding the last requests.
	drainLimit = time.Second

	// inlineWriteMax is the largest request written before reading its
	// response. The kernel buffers on each side hold this much, so the
	// write cannot block on a peer that is itself blocked writing the echo
	// back; larger requests are written from a second goroutine while the
	// response is read.
	inlineWriteMax = 64 << 10
)

// errDrain is the cause of a run's end when the drain limit passes.
var errDrain = errors.New("loadgen: answers still owed when the drain limit passed")

// RR is a request/response workload: persistent TCP connections to an Echo
// (directly, or through a relay), each with one request of Size bytes
// outstanding at a time, measuring how long each takes to come back
// complete and checking that it came back unchanged. The zero value (but
// for Addr) is one connection sending 64-byte requests as fast as the
// answers allow, for 5 s.
//
// With Rate set, the load is open loop (as in wrk2): requests are due on a
// fixed schedule whatever the server does, and each latency is counted
// from when the request was due, so a server stall costs every request
// that should have been sent during it, not just the one that was in flight
// (the coordinated-omission correction).
//
// The schedule is kept with a sleep and then a short spin (spinWindow), but
// the Go runtime's timers can wake a sleeper up to about a millisecond late,
// which would swamp round trips of tens of microseconds; spinning for a
// millisecond before every request instead would take a core from the relay
// being measured. So the latency recorded is the one a client sending
// exactly on time would see: how long, at the request's intended time, that
// client would still wait for its previous response, plus this request's
// own measured round trip (Lindley's recurrence over the measured round
// trips). The generator's own lateness is never charged to the server; a
// slow or stalled server always is. The price is a load up to about a
// millisecond burstier than the schedule; Late counts the sends that slipped
// further than lateAfter.
type RR struct {
	// Addr is where to dial: a relay's public port or an Echo directly.
	Addr string
	// Size is the request and response size in bytes. Zero means 64.
	Size int
	// Conns is how many persistent connections run, each with one request
	// outstanding at a time. Zero means 1.
	Conns int
	// Duration is the measured period. Zero means 5 s.
	Duration time.Duration
	// Warmup is how long to run before measuring; its requests are not
	// recorded. Zero means none.
	Warmup time.Duration
	// Rate is the total requests per second across all connections, each
	// taking an equal share on a staggered schedule. Zero means closed
	// loop: every connection sends its next request as soon as the last
	// response is in.
	Rate float64
}

// RRResult is what an RR run measured.
type RRResult struct {
	// Requests is how many requests were due in the measured period (open
	// loop) or started in it (closed loop) and were answered correctly.
	Requests int64
	// Errors counts failed requests, warmup included: a read or write error
	// (the connection is then redialed), a corrupt response, or no answer
	// by drainLimit after the measured period.
	Errors int64
	// Elapsed is the measured period actually run: Duration, or a little
	// more while the last answers come in, or less when the run was cut
	// short.
	Elapsed time.Duration
	// Latency holds one sample per counted request. Closed loop: from
	// sending the request to reading the whole response. Open loop: from
	// the request's intended send time to the whole response, as the RR doc
	// describes.
	Latency *Histogram
	// Rate is Requests per second of Elapsed.
	Rate float64
	// Late counts, in open loop, requests of the measured period sent more
	// than 2 ms (lateAfter) after their intended time, because an earlier
	// response was late or the generator itself fell behind. Zero in closed
	// loop.
	Late int64
}

// Validate reports the first field that holds a value RR cannot use.
func (r RR) Validate() error {
	switch {
	case r.Addr == "":
		return errors.New("loadgen: RR.Addr is empty")
	case r.Size < 0:
		return fmt.Errorf("loadgen: RR.Size is %d, want >= 0", r.Size)
	case r.Conns < 0:
		return fmt.Errorf("loadgen: RR.Conns is %d, want >= 0", r.Conns)
	case r.Duration < 0:
		return fmt.Errorf("loadgen: RR.Duration is %v, want >= 0", r.Duration)
	case r.Warmup < 0:
		return fmt.Errorf("loadgen: RR.Warmup is %v, want >= 0", r.Warmup)
	case !(r.Rate >= 0) || math.IsInf(r.Rate, 0): // also NaN
		return fmt.Errorf("loadgen: RR.Rate is %v, want a finite value >= 0", r.Rate)
	}
	return nil
}

// rrRun is what every connection of one Run shares. Times are durations
// since start, on the monotonic clock.
type rrRun struct {
	RR
	start    time.Time
	measure  time.Duration // start of the measured period
	end      time.Duration // end of the measured period
	ctx      context.Context
	cancel   context.CancelCauseFunc
	dialer   net.Dialer
	failOnce sync.Once
	failErr  error // first error that ends the run; read after wg.Wait
}

// rrConn is one connection's state, owned by its goroutine until Run
// collects it after the goroutine ends.
type rrConn struct {
	run   *rrRun
	id    int
	c     net.Conn    // nil once closed
	stop  func() bool // undoes the AfterFunc that unblocks c when ctx ends
	req   []byte      // the request being sent; lives as long as rrConn
	resp  []byte      // where its echo is read; lives as long as rrConn
	seq   uint64      // requests sent on this rrConn so far, redials included
	timer *time.Timer // the pacer's, reused for every request

	hist     Histogram
	requests int64
	errs     int64
	late     int64
	done     bool // ran its schedule to the end
}

// Run dials Conns connections to Addr, runs the workload for Warmup and
// then Duration, and returns what it measured. A failed dial, at the start
// or when redialing after an error, ends the run with an error naming Addr.
// A corrupt response ends it with an error wrapping ErrCorrupt. When ctx
// ends first, Run returns promptly with what it measured so far and ctx's
// error. Every connection is closed and every goroutine has ended when Run
// returns.
func (r RR) Run(ctx context.Context) (RRResult, error) {
	if err := r.Validate(); err != nil {
		return RRResult{}, err
	}
	if r.Size == 0 {
		r.Size = defaultRRSize
	}
	if r.Conns == 0 {
		r.Conns = 1
	}
	if r.Duration == 0 {
		r.Duration = defaultRRDuration
	}
	run := &rrRun{RR: r}

	conns := make([]*rrConn, r.Conns)
	for i := range conns {
		c, err := run.dialer.DialContext(ctx, "tcp", r.Addr)
		if err != nil {
			for _, rc := range conns[:i] {
				rc.c.Close()
			}
			return RRResult{}, fmt.Errorf("loadgen: RR dial %s: %w", r.Addr, err)
		}
		conns[i] = &rrConn{run: run, id: i, c: c, req: make([]byte, r.Size), resp: make([]byte, r.Size)}
	}

	run.start = time.Now()
	run.measure = r.Warmup
	run.end = r.Warmup + r.Duration
	deadlineCtx, cancelDeadline := context.WithDeadlineCause(ctx, run.start.Add(run.end+drainLimit), errDrain)
	defer cancelDeadline()
	run.ctx, run.cancel = context.WithCancelCause(deadlineCtx)
	defer run.cancel(nil)

	var wg sync.WaitGroup
	for _, rc := range conns {
		rc.watch()
		wg.Go(rc.loop)
	}
	wg.Wait()
	now := time.Since(run.start)

	res := RRResult{Latency: NewHistogram()}
	complete := true
	for _, rc := range conns {
		res.Latency.Merge(&rc.hist)
		res.Requests += rc.requests
		res.Errors += rc.errs
		res.Late += rc.late
		complete = complete && rc.done
	}
	if complete {
		now = max(now, run.end)
	}
	res.Elapsed = max(now-run.measure, 0)
	if res.Elapsed > 0 {
		res.Rate = float64(res.Requests) / res.Elapsed.Seconds()
	}
	if run.failErr != nil {
		return res, run.failErr
	}
	return res, ctx.Err()
}

// fail ends the run with err, unless another error ended it first.
func (run *rrRun) fail(err error) {
	run.failOnce.Do(func() {
		run.failErr = err
		run.cancel(err)
	})
}

// since is the time elapsed since the run started.
func (run *rrRun) since() time.Duration { return time.Since(run.start) }

// intended is when the run's g-th request, counted across all connections,
// is due: the connections' schedules interleave, so together they send
// evenly at Rate.
func (run *rrRun) intended(g int64) time.Duration {
	return time.Duration(float64(g) * 1e9 / run.Rate)
}

// watch makes the end of the run interrupt any read or write on c.
func (rc *rrConn) watch() {
	c := rc.c
	rc.stop = context.AfterFunc(rc.run.ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

func (rc *rrConn) close() {
	if rc.c == nil {
		return
	}
	rc.stop()
	rc.c.Close()
	rc.c = nil
}

func (rc *rrConn) loop() {
	defer func() {
		rc.close()
		if rc.timer != nil {
			rc.timer.Stop()
		}
	}()
	if rc.run.Rate > 0 {
		rc.openLoop()
	} else {
		rc.closedLoop()
	}
}

func (rc *rrConn) closedLoop() {
	run := rc.run
	for {
		sent := run.since()
		if sent >= run.end {
			rc.done = true
			return
		}
		if run.ctx.Err() != nil {
			return
		}
		err := rc.roundTrip()
		rtt := run.since() - sent
		if err != nil {
			if !rc.recover(err) {
				return
			}
			continue
		}
		if sent >= run.measure {
			rc.hist.Record(rtt)
			rc.requests++
		}
	}
}

// openLoop sends this connection's share of the schedule: its i-th request
// is the run's (i*Conns + id)-th. It keeps the virtual punctual client the
// RR doc describes: it sends each request at max(intended, its previous
// response), and its responses take the round trips measured for real.
func (rc *rrConn) openLoop() {
	run := rc.run
	var virtualDone time.Duration // when the punctual client's previous response came
	for g := int64(rc.id); ; g += int64(run.Conns) {
		due := run.intended(g)
		if due >= run.end {
			rc.done = true
			return
		}
		if !rc.wait(due) {
			rc.abandon(g)
			return
		}
		sent := run.since()
		measured := due >= run.measure
		if measured && sent-due > lateAfter {
			rc.late++
		}
		err := rc.roundTrip()
		if err != nil {
			if !rc.recover(err) {
				rc.abandon(g + int64(run.Conns))
				return
			}
		}
		// On an error the time lost to it and to the redial counts as
		// this request's round trip, so it delays the next ones too.
		virtualDone = max(due, virtualDone) + run.since() - sent
		if err == nil && measured {
			rc.hist.Record(virtualDone - due)
			rc.requests++
		}
	}
}

// abandon accounts for this connection's requests from the g-th on that
// were due in the measured period but will not be sent because the run is
// ending. Only the drain limit makes them errors; a cancelled or failed run
// just stops.
func (rc *rrConn) abandon(g int64) {
	run := rc.run
	if !errors.Is(context.Cause(run.ctx), errDrain) {
		return
	}
	for ; ; g += int64(run.Conns) {
		due := run.intended(g)
		if due >= run.end {
			return
		}
		if due >= run.measure {
			rc.errs++
		}
	}
}

// wait returns at the due time, or false if the run ends first. It sleeps
// until spinWindow before it, then spins, yielding between clock reads so
// that goroutines sharing the P still run. If the sleep overshoots (the
// runtime's timers can be a millisecond coarse), it returns late and does
// not spin at all.
func (rc *rrConn) wait(due time.Duration) bool {
	run := rc.run
	for {
		left := due - run.since()
		if left <= 0 {
			return run.ctx.Err() == nil
		}
		if left <= spinWindow {
			for run.since() < due {
				runtime.Gosched()
			}
			return run.ctx.Err() == nil
		}
		if rc.timer == nil {
			rc.timer = time.NewTimer(left - spinWindow)
		} else {
			rc.timer.Reset(left - spinWindow)
		}
		select {
		case <-run.ctx.Done():
			return false
		case <-rc.timer.C:
		}
	}
}

// recover handles a failed request: it counts the error and, unless the run
// is over, redials to go on. It reports whether the loop should go on.
func (rc *rrConn) recover(err error) bool {
	run := rc.run
	if run.ctx.Err() != nil {
		// Our own deadline cut the request short. Past the drain limit
		// the request is one still owed, so an error; otherwise the run
		// was cancelled or failed elsewhere, and this one says nothing.
		if errors.Is(context.Cause(run.ctx), errDrain) {
			rc.errs++
		}
		return false
	}
	rc.errs++
	if errors.Is(err, ErrCorrupt) {
		run.fail(err)
		return false
	}
	rc.close()
	c, derr := run.dialer.DialContext(run.ctx, "tcp", run.Addr)
	if derr != nil {
		if run.ctx.Err() == nil {
			run.fail(fmt.Errorf("loadgen: RR redial %s after %v: %w", run.Addr, err, derr))
		}
		return false
	}
	rc.c = c
	rc.watch()
	return true
}

// roundTrip sends the next request and reads and checks its echo.
func (rc *rrConn) roundTrip() error {
	rc.fill()
	rc.seq++
	var werr chan error
	if len(rc.req) <= inlineWriteMax {
		if _, err := rc.c.Write(rc.req); err != nil {
			return err
		}
	} else {
		werr = make(chan error, 1)
		go func() {
			_, err := rc.c.Write(rc.req)
			werr <- err
		}()
	}
	_, err := io.ReadFull(rc.c, rc.resp)
	if werr != nil {
		if err != nil {
			// Unblock the writer too; the connection is redialed anyway.
			rc.c.SetWriteDeadline(time.Unix(1, 0))
		}
		if err2 := <-werr; err == nil {
			err = err2
		}
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(rc.resp, rc.req) {
		at := 0
		for rc.resp[at] == rc.req[at] {
			at++
		}
		return fmt.Errorf("%w: connection %d, request %d of %d bytes: byte %d is %#02x, sent %#02x",
			ErrCorrupt, rc.id, rc.seq, len(rc.req), at, rc.resp[at], rc.req[at])
	}
	return nil
}

// fill writes the next request into rc.req: the shared pattern from an
// offset that moves with every request, stamped with the connection and
// sequence number, so that no two requests of a run are alike and an echo
// of a stale or another connection's request is caught.
func (rc *rrConn) fill() {
	stamp := rc.seq | uint64(rc.id)<<48
	off := int((stamp * 8191) % uint64(len(pattern)))
	n := copy(rc.req, pattern[off:])
	for n < len(rc.req) {
		n += copy(rc.req[n:], pattern)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], stamp)
	copy(rc.req, b[:])
}
