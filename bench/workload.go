package bench

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
	"github.com/ferry-tunnel/ferry/loadgen"
)

// Workload parameters shared by every preset, recorded in Matrix.Settings.
const (
	rrSize      = 64 // bytes each way per request: rr and churn
	httpConns   = 16 // keep-alive connections of the http workloads
	churnConns  = 8  // workers cycling connections at once
	bulkStreams = 4  // streams of bulk-4
)

// A backend is what a workload talks to behind the case: started fresh for
// each run, so no run sees another's connections or counts.
type backend interface {
	Addr() net.Addr
	Close() error
}

// A workload makes its backend and measures one run through the address a
// case gives it. It fills the workload's metrics into m; the harness adds CPU
// and memory around it.
type workload struct {
	backend func() (backend, error)
	// measure runs the workload against r.addr: an unmeasured warm-up
	// where it has one, then the measured run inside r.window.
	measure func(ctx context.Context, p *plan, r *runCtx) error
}

// runCtx is what one run passes between the harness and its workload.
type runCtx struct {
	addr     string
	backend  backend
	capacity float64 // the lowest rr-c64 rate this case has shown so far, for the open loops
	m        map[string]float64
	// window brackets the measured period: the workload calls it just
	// before its measured run starts and after it ends; the harness samples
	// CPU there.
	window func(open bool) error
	// work is what the CPU is divided by: bytes (bulk) or requests or
	// connections (others); workUnit says which.
	work     float64
	workUnit string
	// idle is set by the idle workload: memory before and after holding
	// its connections, sampled with memOf (nil for direct: no process).
	idle  *idleSample
	memOf func() ([]memKiB, error)
}

type idleSample struct{ before, after []memKiB }

var workloads = map[string]workload{
	"bulk-1":      bulk(1, loadgen.Up),
	"bulk-4":      bulk(bulkStreams, loadgen.Up),
	"bulk-1-down": bulk(1, loadgen.Down),
	"rr-c1":       rr(1, 0),
	"rr-c64":      rr(64, 0),
	"rr-open50":   rr(64, 0.5),
	"rr-open90":   rr(64, 0.9),
	"http-small":  httpLoad("/small"),
	"http-1m":     httpLoad("/1m"),
	"churn":       {backend: newEcho, measure: measureChurn},
	"idle":        {backend: newEcho, measure: measureIdle},
}

func newEcho() (backend, error) { return loadgen.NewEcho("127.0.0.1:0") }

func bulk(streams int, dir loadgen.Direction) workload {
	w := workload{}
	if dir == loadgen.Up {
		w.backend = func() (backend, error) { return loadgen.NewSink("127.0.0.1:0") }
	} else {
		w.backend = func() (backend, error) { return loadgen.NewSource("127.0.0.1:0") }
	}
	w.measure = func(ctx context.Context, p *plan, r *runCtx) error {
		if err := r.window(true); err != nil {
			return err
		}
		// A stream that stalls must not hang the harness.
		runCtx, cancel := context.WithTimeout(ctx, p.Duration+p.StartTimeout)
		defer cancel()
		res, err := loadgen.Bulk{Addr: r.addr, Streams: streams, Direction: dir, Duration: p.Duration}.Run(runCtx)
		if err != nil {
			return err
		}
		if err := r.window(false); err != nil {
			return err
		}
		// Every byte checked: what the loadgen sent against what the Sink
		// read, or what the Source sent against what the loadgen read.
		switch b := r.backend.(type) {
		case *loadgen.Sink:
			got, err := b.Wait(runCtx, streams)
			if err != nil {
				return fmt.Errorf("the sink did not see every stream end: %w", err)
			}
			if err := loadgen.VerifyReceived(res.Streams, got); err != nil {
				return err
			}
		case *loadgen.Source:
			sent, err := b.Wait(runCtx, streams)
			if err != nil {
				return fmt.Errorf("the source did not finish every stream: %w", err)
			}
			if err := loadgen.VerifySent(res.Streams, sent); err != nil {
				return err
			}
		}
		r.m[results.MetricMBps] = res.MBps
		r.work, r.workUnit = float64(res.Bytes), "bytes"
		return nil
	}
	return w
}

func rr(conns int, fraction float64) workload {
	return workload{backend: newEcho, measure: func(ctx context.Context, p *plan, r *runCtx) error {
		load := loadgen.RR{Addr: r.addr, Size: rrSize, Conns: conns, Duration: p.Duration}
		if fraction > 0 {
			if r.capacity <= 0 {
				return fmt.Errorf("no rr-c64 capacity measured for this case yet: run rr-c64 before the open-loop workloads")
			}
			load.Rate = fraction * r.capacity
			r.m[results.MetricOffered] = load.Rate
		}
		var res loadgen.RRResult
		err := warmThenMeasure(ctx, p, r, func(d time.Duration) (err error) {
			load.Duration = d
			res, err = load.Run(ctx)
			return err
		})
		if err != nil {
			return err
		}
		// Near saturation an open loop may leave a few requests
		// unanswered when the period ends; past one in a hundred the
		// run's figures mean nothing, as for http and churn.
		if res.Errors*100 > res.Requests+res.Errors {
			return fmt.Errorf("%d of %d requests failed", res.Errors, res.Requests+res.Errors)
		}
		r.m[results.MetricErrors] = float64(res.Errors)
		r.m[results.MetricRPS] = res.Rate
		putLatency(r.m, res.Latency)
		r.work, r.workUnit = float64(res.Requests), "requests"
		return nil
	}}
}

func httpLoad(path string) workload {
	return workload{
		backend: func() (backend, error) { return loadgen.NewHTTPBackend("127.0.0.1:0") },
		measure: func(ctx context.Context, p *plan, r *runCtx) error {
			load := loadgen.HTTP{Addr: r.addr, Path: path, Conns: httpConns, Duration: p.Duration}
			var res loadgen.HTTPResult
			err := warmThenMeasure(ctx, p, r, func(d time.Duration) (err error) {
				load.Duration = d
				res, err = load.Run(ctx)
				return err
			})
			if err != nil {
				return err
			}
			r.m[results.MetricRPS] = res.Rate
			if path != "/small" {
				r.m[results.MetricMBps] = float64(res.Bytes) / 1e6 / res.Elapsed.Seconds()
			}
			putLatency(r.m, res.Latency)
			r.work, r.workUnit = float64(res.Requests), "requests"
			return nil
		},
	}
}

func measureChurn(ctx context.Context, p *plan, r *runCtx) error {
	load := loadgen.Churn{Addr: r.addr, Size: rrSize, Conns: churnConns, Duration: p.Duration}
	var res loadgen.ChurnResult
	err := warmThenMeasure(ctx, p, r, func(d time.Duration) (err error) {
		load.Duration = d
		res, err = load.Run(ctx)
		return err
	})
	if err != nil {
		return err
	}
	r.m[results.MetricConnsPerSec] = res.Rate
	putLatency(r.m, res.FirstByte)
	r.work, r.workUnit = float64(res.Conns), "connections"
	return nil
}

// measureIdle holds IdleConns connections through the case and records how
// much the ferry processes' resident memory grew per connection. Dials are
// paced at 1,000 per second, under the listen backlog and the server's
// bound on public connections waiting for a data connection.
func measureIdle(ctx context.Context, p *plan, r *runCtx) error {
	r.idle = &idleSample{}
	var err error
	if r.idle.before, err = r.sampleMem(); err != nil {
		return err
	}
	holdCtx, cancel := context.WithTimeout(ctx, p.StartTimeout+time.Duration(p.IdleConns)*time.Millisecond)
	defer cancel()
	held, err := loadgen.Idle{Addr: r.addr, Conns: p.IdleConns, DialRate: 1000}.Hold(holdCtx)
	if err != nil {
		return err
	}
	defer held.Close()
	// One more round trip on every connection: all still live end to end.
	if err := held.Check(holdCtx); err != nil {
		return err
	}
	if r.idle.after, err = r.sampleMem(); err != nil {
		return err
	}
	r.m[results.MetricIdleConns] = float64(held.Len())
	return nil
}

func (r *runCtx) sampleMem() ([]memKiB, error) {
	if r.memOf == nil {
		return nil, nil
	}
	return r.memOf()
}

// warmThenMeasure runs a workload twice: for p.Warmup, unmeasured, so that
// connections, pools and caches settle, and then for p.Duration inside the
// CPU window, so that CPU per request counts only measured requests. run
// keeps the result of its last call.
func warmThenMeasure(ctx context.Context, p *plan, r *runCtx, run func(d time.Duration) error) error {
	if p.Warmup > 0 {
		if err := run(p.Warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	if err := r.window(true); err != nil {
		return err
	}
	if err := run(p.Duration); err != nil {
		return err
	}
	return r.window(false)
}

// putLatency records a histogram's percentiles in µs.
func putLatency(m map[string]float64, h *loadgen.Histogram) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	m[results.MetricP50] = us(h.Quantile(0.5))
	m[results.MetricP90] = us(h.Quantile(0.9))
	m[results.MetricP99] = us(h.Quantile(0.99))
	m[results.MetricP999] = us(h.Quantile(0.999))
	m[results.MetricMax] = us(h.Max())
}
