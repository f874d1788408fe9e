package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-tunnel/ferry/loadgen"
)

// argsError is a bad command line the flag package cannot see: a missing
// or unknown word, a flag's value out of range. argsExit reports it in one
// line and exits 2.
type argsError string

func (e argsError) Error() string { return string(e) }

func argsErrorf(format string, a ...any) error { return argsError(fmt.Sprintf(format, a...)) }

// argsExit is startError that also knows argsError.
func argsExit(name string, err error, stdout, stderr io.Writer) int {
	var ae argsError
	if errors.As(err, &ae) {
		fmt.Fprintf(stderr, "ferry %s: %v\n", name, err)
		return exitUsage
	}
	return startError(name, err, stdout, stderr)
}

// firstWord splits off the word a command takes before its flags: a
// backend's kind, a loadgen's workload.
func firstWord(args []string) (word string, rest []string, ok bool) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", args, false
	}
	return args[0], args[1:], true
}

const (
	// runGrace is how long a run may go on past its plan before it is
	// given up as stalled: time for dials, for a bulk stream's last bytes
	// to drain, for idle's echo checks. A backend of the wrong kind (a
	// download from a sink) stalls, and this turns that into an error.
	runGrace = 10 * time.Second
	// progressAfter: a run planned longer than this reports progress on
	// stderr, once a second.
	progressAfter = 2 * time.Second
	// churnMaxSize is loadgen.Churn's limit on Size (its maxChurnSize),
	// checked here so that a bad --size is a usage error.
	churnMaxSize = 64 << 10
)

// errInterrupted is the cause of the run's context when SIGINT or SIGTERM
// stopped it.
var errInterrupted = errors.New("interrupted")

// loadOpts are the flags every workload takes.
type loadOpts struct {
	addr     string
	duration time.Duration
	warmup   time.Duration
	json     bool
	quiet    bool
}

// register defines the common flags on fs; timed workloads (all but idle)
// also take --duration and --warmup.
func (o *loadOpts) register(fs *flag.FlagSet, timed bool, warmup time.Duration) {
	fs.StringVar(&o.addr, "addr", "", "`host:port` to load: a ferry backend, or a relay in front of one (required)")
	if timed {
		fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long to measure, after the warm-up")
		fs.DurationVar(&o.warmup, "warmup", warmup, "how long to run, unmeasured, before measuring")
	}
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object on stdout instead of text")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines on stderr")
}

func (o *loadOpts) validate(timed bool) error {
	switch {
	case o.addr == "":
		return argsErrorf("--addr is required")
	case timed && o.duration <= 0:
		return argsErrorf("--duration %v: want more than 0", o.duration)
	case timed && o.warmup < 0:
		return argsErrorf("--warmup %v: want 0 or more", o.warmup)
	}
	return nil
}

// A workload is one thing `ferry loadgen` can run.
type workload struct {
	name    string
	summary string
	timed   bool          // takes --duration and --warmup
	warmup  time.Duration // --warmup's default
	// define registers the workload's own flags on fs and returns the
	// job they configure, run once the flags are parsed.
	define func(fs *flag.FlagSet) job
}

// A job is a workload configured by its flags.
type job interface {
	// validate checks the workload's own flags; nothing is dialled before.
	validate() error
	// planned is how long the run should take.
	planned(o *loadOpts) time.Duration
	// backend is the kind of 'ferry backend' the workload expects.
	backend() string
	// run measures, reporting its phases to p. On an error it returns
	// what it measured up to then, or nil, and the error.
	run(ctx context.Context, o *loadOpts, p *progress) (report, error)
}

// A report is a workload's result, printed as text or as JSON.
type report interface {
	head() *reportHead
	text(w io.Writer)
}

// reportHead is the part of every report that says what ran.
type reportHead struct {
	Workload    string  `json:"workload"`
	Addr        string  `json:"addr"`
	Interrupted bool    `json:"interrupted"`
	Elapsed     float64 `json:"elapsed_s"`
}

func (h *reportHead) head() *reportHead { return h }

// title prints the report's first line, marking an interrupted run.
func (h *reportHead) title(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, format, a...)
	if h.Interrupted {
		fmt.Fprintf(w, " (interrupted: partial figures)")
	}
	fmt.Fprintln(w)
}

var workloads = []workload{
	{name: "bulk", summary: "move bytes one way over parallel streams; up to a 'ferry backend sink', down from a 'source'", timed: true, define: defineBulk},
	{name: "rr", summary: "request/response round trips on persistent connections to a 'ferry backend echo'", timed: true, warmup: 500 * time.Millisecond, define: defineRR},
	{name: "http", summary: "closed-loop HTTP/1.1 GETs over keep-alive connections to a 'ferry backend http'", timed: true, warmup: 500 * time.Millisecond, define: defineHTTP},
	{name: "churn", summary: "a new connection per exchange (dial, send, half-close, read the echo) to a 'ferry backend echo'", timed: true, warmup: 500 * time.Millisecond, define: defineChurn},
	{name: "idle", summary: "hold many idle connections to a 'ferry backend echo' and check they still echo", define: defineIdle},
}

func workloadNames() string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return orList(names)
}

// loadgenUsage is the usage of `ferry loadgen` without a workload.
func loadgenUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ferry loadgen WORKLOAD --addr HOST:PORT [flags]\n\nWorkloads:\n")
	for _, wl := range workloads {
		fmt.Fprintf(w, "  %-5s  %s\n", wl.name, wl.summary)
	}
	fmt.Fprintf(w, "\nRun 'ferry loadgen WORKLOAD -h' for a workload's flags; docs/config.md lists them all.\n")
}

func parseLoadgen(args []string) (wl workload, o loadOpts, j job, err error) {
	name, rest, ok := firstWord(args)
	if !ok {
		if len(args) > 0 {
			switch args[0] {
			case "-h", "-help", "--help":
				var b strings.Builder
				loadgenUsage(&b)
				return wl, o, nil, &helpError{usage: b.String()}
			}
		}
		return wl, o, nil, &usageError{cmd: "ferry loadgen", msg: "missing WORKLOAD before the flags: want " + workloadNames()}
	}
	found := false
	for _, w := range workloads {
		if w.name == name {
			wl, found = w, true
		}
	}
	if !found {
		return wl, o, nil, argsErrorf("unknown workload %q: want %s", name, workloadNames())
	}
	fs := newFlagSet("loadgen "+wl.name, "--addr HOST:PORT [flags]")
	o.register(fs, wl.timed, wl.warmup)
	j = wl.define(fs)
	if err := parseFlags(fs, rest); err != nil {
		return wl, o, nil, err
	}
	if err := o.validate(wl.timed); err != nil {
		return wl, o, nil, err
	}
	return wl, o, j, j.validate()
}

// runLoadgen runs one workload against --addr and prints what it measured:
// text, or with --json one JSON object, on stdout. Exit 0 when the run
// completed, 1 when it failed (the error goes to stderr, and nothing to
// stdout: a failed run's figures are void) or was interrupted (then the
// figures so far are printed, marked interrupted), 2 for a bad command line,
// before anything is dialled.
func runLoadgen(args []string, stdout, stderr io.Writer) int {
	wl, o, j, err := parseLoadgen(args)
	if err != nil {
		return argsExit("loadgen", err, stdout, stderr)
	}

	root, interrupt := context.WithCancelCause(context.Background())
	defer interrupt(nil)
	planned := j.planned(&o)
	stall := fmt.Errorf("the run did not end within %v of its planned %v: is %s a 'ferry backend %s', or a relay in front of one?",
		runGrace, planned, o.addr, j.backend())
	ctx, cancel := context.WithTimeoutCause(root, planned+runGrace, stall)
	defer cancel()

	sigs, stop := notifySignals()
	defer stop()
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintf(stderr, "ferry loadgen: interrupted; stopping (a second signal exits at once)\n")
		interrupt(errInterrupted)
		if _, ok := <-sigs; ok {
			fmt.Fprintf(stderr, "ferry loadgen: second signal; exiting now\n")
			os.Exit(exitFatal)
		}
	}()

	prog := startProgress(stderr, !o.quiet && planned > progressAfter)
	rep, err := j.run(ctx, &o, prog)
	prog.end()

	interrupted := err != nil && errors.Is(context.Cause(ctx), errInterrupted)
	if err != nil && !interrupted {
		if errors.Is(err, context.DeadlineExceeded) && context.Cause(ctx) == stall {
			err = fmt.Errorf("%w: %w", err, stall)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			err = fmt.Errorf("%w (nothing accepts connections at %s: start 'ferry backend %s' there, or point --addr at a relay in front of one)",
				err, o.addr, j.backend())
		}
		fmt.Fprintf(stderr, "ferry loadgen %s: %v\n", wl.name, err)
		return exitFatal
	}
	if rep != nil {
		h := rep.head()
		h.Workload, h.Addr, h.Interrupted = wl.name, o.addr, interrupted
		if o.json {
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(rep); err != nil {
				fmt.Fprintf(stderr, "ferry loadgen %s: %v\n", wl.name, err)
				return exitFatal
			}
		} else {
			rep.text(stdout)
		}
	}
	if interrupted {
		fmt.Fprintf(stderr, "ferry loadgen %s: interrupted; the figures cover only part of the run\n", wl.name)
		return exitFatal
	}
	return exitOK
}

// progress prints, about once a second, what the run is doing and how much
// of it is left. The workloads report no progress of their own, so it goes
// by the clock against the plan. A nil *progress prints nothing.
type progress struct {
	w    io.Writer
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	what   string
	start  time.Time
	total  time.Duration // 0: unknown
	warmup time.Duration // the first part of total, not measured
}

// startProgress returns a running progress on w, or nil when !on.
func startProgress(w io.Writer, on bool) *progress {
	if !on {
		return nil
	}
	p := &progress{w: w, stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go p.loop()
	return p
}

// phase starts a new phase: what runs, and for how long if known.
func (p *progress) phase(what string, total, warmup time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.what, p.start, p.total, p.warmup = what, time.Now(), total, warmup
	p.mu.Unlock()
}

// end stops the progress lines; none is printed after end returns.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

func (p *progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		what, elapsed, total, warmup := p.what, time.Since(p.start), p.total, p.warmup
		p.mu.Unlock()
		if what == "" {
			continue
		}
		elapsed = elapsed.Round(time.Second)
		switch {
		case total == 0:
			fmt.Fprintf(p.w, "ferry loadgen: %s: %v\n", what, elapsed)
		case elapsed < warmup:
			fmt.Fprintf(p.w, "ferry loadgen: %s: %v of %v (warming up), %v left\n", what, elapsed, total, total-elapsed)
		case elapsed < total:
			fmt.Fprintf(p.w, "ferry loadgen: %s: %v of %v, %v left\n", what, elapsed, total, total-elapsed)
		default:
			fmt.Fprintf(p.w, "ferry loadgen: %s: %v of %v, finishing\n", what, elapsed, total)
		}
	}
}

// latencyUS summarises a Histogram in microseconds.
type latencyUS struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func summarize(h *loadgen.Histogram) latencyUS {
	if h == nil {
		return latencyUS{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return latencyUS{
		Count: h.Count(),
		Mean:  us(h.Mean()),
		P50:   us(h.Quantile(0.5)),
		P90:   us(h.Quantile(0.9)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(h.Max()),
	}
}

func (l latencyUS) String() string {
	return fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f", l.P50, l.P90, l.P99, l.P999, l.Max)
}

// perSecond is n per second of d, or 0.
func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// jsonDuration is a Duration that JSON shows as Go writes it: "500ms".
type jsonDuration time.Duration

func (d jsonDuration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d jsonDuration) String() string { return time.Duration(d).String() }

// warmupNote describes a warm-up for a report's title line.
func warmupNote(d jsonDuration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf(" after %v warm-up", d)
}

// plural is n and noun, with an s unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// errNothingAnswered fails a run that completed without a single answer:
// the address accepts connections but does not answer as the workload's
// backend would, and a report of zeroes would pass for a measurement.
func errNothingAnswered(o *loadOpts, j job, what string, errs int64) error {
	return fmt.Errorf("no %s completed in the measured %v (%d failed): is %s a 'ferry backend %s', or a relay in front of one?",
		what, o.duration, errs, o.addr, j.backend())
}

// bulk

type bulkJob struct {
	streams   int
	direction string
}

func defineBulk(fs *flag.FlagSet) job {
	j := &bulkJob{}
	fs.IntVar(&j.streams, "streams", 1, "parallel TCP `streams`")
	fs.StringVar(&j.direction, "direction", "up", "`way` the bytes flow: up (to a 'ferry backend sink') or down (from a 'ferry backend source')")
	return j
}

func (j *bulkJob) validate() error {
	switch {
	case j.streams < 1:
		return argsErrorf("--streams %d: want 1 or more", j.streams)
	case j.direction != "up" && j.direction != "down":
		return argsErrorf("--direction %q: want up or down", j.direction)
	}
	return nil
}

func (j *bulkJob) planned(o *loadOpts) time.Duration { return o.warmup + o.duration }

func (j *bulkJob) backend() string {
	if j.direction == "down" {
		return "source"
	}
	return "sink"
}

type bulkReport struct {
	reportHead
	Params struct {
		Streams   int          `json:"streams"`
		Direction string       `json:"direction"`
		Duration  jsonDuration `json:"duration"`
		Warmup    jsonDuration `json:"warmup"`
	} `json:"params"`
	Bytes   int64        `json:"bytes"`
	MBps    float64      `json:"mb_per_s"`
	Streams []bulkStream `json:"streams"`
}

// bulkWay is the preposition for a direction: up to, down from.
func bulkWay(direction string) string {
	if direction == "down" {
		return "from"
	}
	return "to"
}

// bulkStream is what one stream moved, as a sink or source logs it.
type bulkStream struct {
	Bytes  int64  `json:"bytes"`
	CRC32C string `json:"crc32c"` // 8 hex digits
}

func (j *bulkJob) run(ctx context.Context, o *loadOpts, p *progress) (report, error) {
	dir := loadgen.Up
	if j.direction == "down" {
		dir = loadgen.Down
	}
	what := fmt.Sprintf("bulk %s %s %s", j.direction, bulkWay(j.direction), o.addr)
	rep := &bulkReport{}
	rep.Params.Streams, rep.Params.Direction = j.streams, j.direction
	rep.Params.Duration, rep.Params.Warmup = jsonDuration(o.duration), jsonDuration(o.warmup)
	if o.warmup > 0 {
		// Bulk has no warm-up of its own: a run of its own, whose streams
		// the backend logs too, before the measured ones.
		p.phase(what+" (warm-up)", o.warmup, 0)
		_, err := loadgen.Bulk{Addr: o.addr, Streams: j.streams, Direction: dir, Duration: o.warmup}.Run(ctx)
		if err != nil {
			return rep, fmt.Errorf("warm-up: %w", err)
		}
	}
	p.phase(what, o.duration, 0)
	res, err := loadgen.Bulk{Addr: o.addr, Streams: j.streams, Direction: dir, Duration: o.duration}.Run(ctx)
	rep.Elapsed = res.Elapsed.Seconds()
	rep.Bytes, rep.MBps = res.Bytes, res.MBps
	rep.Streams = make([]bulkStream, len(res.Streams))
	for i, s := range res.Streams {
		rep.Streams[i] = bulkStream{Bytes: s.Bytes, CRC32C: fmt.Sprintf("%08x", s.Sum)}
	}
	return rep, err
}

func (r *bulkReport) text(w io.Writer) {
	r.title(w, "bulk %s %s %s: %s for %s%s", r.Params.Direction, bulkWay(r.Params.Direction), r.Addr,
		plural(int64(r.Params.Streams), "stream"), r.Params.Duration, warmupNote(r.Params.Warmup))
	fmt.Fprintf(w, "  %.1f MB/s: %d bytes in %v\n", r.MBps, r.Bytes, secs(r.Elapsed))
	for i, s := range r.Streams {
		fmt.Fprintf(w, "  stream %d: %d bytes, crc32c %s\n", i, s.Bytes, s.CRC32C)
	}
}

// secs turns seconds back into a Duration, rounded for printing.
func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond)
}

// rr

type rrJob struct {
	size, conns int
	rate        float64
}

func defineRR(fs *flag.FlagSet) job {
	j := &rrJob{}
	fs.IntVar(&j.size, "size", 64, "request and response size in `bytes`")
	fs.IntVar(&j.conns, "conns", 1, "persistent `connections`, each with one request outstanding")
	fs.Float64Var(&j.rate, "rate", 0, "total `requests/s`, open loop with latency corrected for coordinated omission; 0: closed loop, as fast as answers come")
	return j
}

func (j *rrJob) validate() error {
	switch {
	case j.size < 1:
		return argsErrorf("--size %d: want 1 or more", j.size)
	case j.conns < 1:
		return argsErrorf("--conns %d: want 1 or more", j.conns)
	case !(j.rate >= 0) || math.IsInf(j.rate, 0):
		return argsErrorf("--rate %v: want 0 (closed loop) or more", j.rate)
	}
	return nil
}

func (j *rrJob) planned(o *loadOpts) time.Duration { return o.warmup + o.duration }

func (j *rrJob) backend() string { return "echo" }

type rrReport struct {
	reportHead
	Params struct {
		Size     int          `json:"size"`
		Conns    int          `json:"conns"`
		Rate     float64      `json:"rate"`
		Duration jsonDuration `json:"duration"`
		Warmup   jsonDuration `json:"warmup"`
	} `json:"params"`
	Requests int64     `json:"requests"`
	Errors   int64     `json:"errors"`
	Late     int64     `json:"late"`
	Rate     float64   `json:"requests_per_s"`
	Latency  latencyUS `json:"latency_us"`
}

func (j *rrJob) run(ctx context.Context, o *loadOpts, p *progress) (report, error) {
	rep := &rrReport{}
	rep.Params.Size, rep.Params.Conns, rep.Params.Rate = j.size, j.conns, j.rate
	rep.Params.Duration, rep.Params.Warmup = jsonDuration(o.duration), jsonDuration(o.warmup)
	p.phase("rr to "+o.addr, o.warmup+o.duration, o.warmup)
	res, err := loadgen.RR{Addr: o.addr, Size: j.size, Conns: j.conns, Duration: o.duration, Warmup: o.warmup, Rate: j.rate}.Run(ctx)
	rep.Elapsed = res.Elapsed.Seconds()
	rep.Requests, rep.Errors, rep.Late, rep.Rate = res.Requests, res.Errors, res.Late, res.Rate
	rep.Latency = summarize(res.Latency)
	if err == nil && res.Requests == 0 {
		err = errNothingAnswered(o, j, "request", res.Errors)
	}
	return rep, err
}

func (r *rrReport) text(w io.Writer) {
	loop := "closed loop"
	if r.Params.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s", r.Params.Rate)
	}
	r.title(w, "rr to %s: %s, %d-byte requests, %s, %s%s", r.Addr, plural(int64(r.Params.Conns), "conn"),
		r.Params.Size, loop, r.Params.Duration, warmupNote(r.Params.Warmup))
	fmt.Fprintf(w, "  %.1f req/s: %d requests in %v, %d errors, %d late\n", r.Rate, r.Requests, secs(r.Elapsed), r.Errors, r.Late)
	fmt.Fprintf(w, "  latency µs: %v\n", r.Latency)
}

// http

type httpJob struct {
	path  string
	conns int
}

func defineHTTP(fs *flag.FlagSet) job {
	j := &httpJob{}
	fs.StringVar(&j.path, "path", "/small", "`path` to GET: /small (128 bytes) or /1m (1 MiB), the bodies 'ferry backend http' serves")
	fs.IntVar(&j.conns, "conns", 16, "keep-alive `connections`, each with one request outstanding")
	return j
}

func (j *httpJob) validate() error {
	switch {
	case j.path != "/small" && j.path != "/1m":
		return argsErrorf("--path %q: want /small or /1m", j.path)
	case j.conns < 1:
		return argsErrorf("--conns %d: want 1 or more", j.conns)
	}
	return nil
}

func (j *httpJob) planned(o *loadOpts) time.Duration { return o.warmup + o.duration }

func (j *httpJob) backend() string { return "http" }

type httpReport struct {
	reportHead
	Params struct {
		Path     string       `json:"path"`
		Conns    int          `json:"conns"`
		Duration jsonDuration `json:"duration"`
		Warmup   jsonDuration `json:"warmup"`
	} `json:"params"`
	Requests int64     `json:"requests"`
	Errors   int64     `json:"errors"`
	Bytes    int64     `json:"bytes"`
	Rate     float64   `json:"requests_per_s"`
	MBps     float64   `json:"mb_per_s"`
	Latency  latencyUS `json:"latency_us"`
}

func (j *httpJob) run(ctx context.Context, o *loadOpts, p *progress) (report, error) {
	rep := &httpReport{}
	rep.Params.Path, rep.Params.Conns = j.path, j.conns
	rep.Params.Duration, rep.Params.Warmup = jsonDuration(o.duration), jsonDuration(o.warmup)
	p.phase("http GET "+j.path+" from "+o.addr, o.warmup+o.duration, o.warmup)
	res, err := loadgen.HTTP{Addr: o.addr, Path: j.path, Conns: j.conns, Duration: o.duration, Warmup: o.warmup}.Run(ctx)
	rep.Elapsed = res.Elapsed.Seconds()
	rep.Requests, rep.Errors, rep.Bytes, rep.Rate = res.Requests, res.Errors, res.Bytes, res.Rate
	rep.MBps = perSecond(float64(res.Bytes)/1e6, res.Elapsed)
	rep.Latency = summarize(res.Latency)
	if err == nil && res.Requests == 0 {
		err = errNothingAnswered(o, j, "request", res.Errors)
	}
	return rep, err
}

func (r *httpReport) text(w io.Writer) {
	r.title(w, "http GET %s from %s: %s, %s%s", r.Params.Path, r.Addr, plural(int64(r.Params.Conns), "conn"),
		r.Params.Duration, warmupNote(r.Params.Warmup))
	fmt.Fprintf(w, "  %.1f req/s: %d requests in %v, %d errors, %d body bytes (%.1f MB/s)\n",
		r.Rate, r.Requests, secs(r.Elapsed), r.Errors, r.Bytes, r.MBps)
	fmt.Fprintf(w, "  latency µs: %v\n", r.Latency)
}

// churn

type churnJob struct {
	size, conns int
}

func defineChurn(fs *flag.FlagSet) job {
	j := &churnJob{}
	fs.IntVar(&j.size, "size", 64, "`bytes` each connection sends and reads back (at most 65536)")
	fs.IntVar(&j.conns, "conns", 8, "`workers` cycling connections at once")
	return j
}

func (j *churnJob) validate() error {
	switch {
	case j.size < 1 || j.size > churnMaxSize:
		return argsErrorf("--size %d: want 1 to %d", j.size, churnMaxSize)
	case j.conns < 1:
		return argsErrorf("--conns %d: want 1 or more", j.conns)
	}
	return nil
}

func (j *churnJob) planned(o *loadOpts) time.Duration { return o.warmup + o.duration }

func (j *churnJob) backend() string { return "echo" }

type churnReport struct {
	reportHead
	Params struct {
		Size     int          `json:"size"`
		Conns    int          `json:"conns"`
		Duration jsonDuration `json:"duration"`
		Warmup   jsonDuration `json:"warmup"`
	} `json:"params"`
	Conns     int64     `json:"conns"`
	Errors    int64     `json:"errors"`
	Rate      float64   `json:"conns_per_s"`
	Connect   latencyUS `json:"connect_us"`
	FirstByte latencyUS `json:"first_byte_us"`
	Total     latencyUS `json:"total_us"`
}

func (j *churnJob) run(ctx context.Context, o *loadOpts, p *progress) (report, error) {
	rep := &churnReport{}
	rep.Params.Size, rep.Params.Conns = j.size, j.conns
	rep.Params.Duration, rep.Params.Warmup = jsonDuration(o.duration), jsonDuration(o.warmup)
	p.phase("churn to "+o.addr, o.warmup+o.duration, o.warmup)
	res, err := loadgen.Churn{Addr: o.addr, Size: j.size, Conns: j.conns, Duration: o.duration, Warmup: o.warmup}.Run(ctx)
	rep.Elapsed = res.Elapsed.Seconds()
	rep.Conns, rep.Errors, rep.Rate = res.Conns, res.Errors, res.Rate
	rep.Connect, rep.FirstByte, rep.Total = summarize(res.Connect), summarize(res.FirstByte), summarize(res.Total)
	if err == nil && res.Conns == 0 {
		err = errNothingAnswered(o, j, "connection", res.Errors)
	}
	return rep, err
}

func (r *churnReport) text(w io.Writer) {
	r.title(w, "churn to %s: %s, %d bytes each way per connection, %s%s", r.Addr, plural(int64(r.Params.Conns), "worker"),
		r.Params.Size, r.Params.Duration, warmupNote(r.Params.Warmup))
	fmt.Fprintf(w, "  %.1f conns/s: %d connections in %v, %d errors\n", r.Rate, r.Conns, secs(r.Elapsed), r.Errors)
	fmt.Fprintf(w, "  connect µs:    %v\n", r.Connect)
	fmt.Fprintf(w, "  first byte µs: %v\n", r.FirstByte)
	fmt.Fprintf(w, "  total µs:      %v\n", r.Total)
}

// idle

type idleJob struct {
	conns int
	rate  float64
	hold  time.Duration
}

func defineIdle(fs *flag.FlagSet) job {
	j := &idleJob{}
	fs.IntVar(&j.conns, "conns", 1000, "`connections` to hold open")
	fs.Float64Var(&j.rate, "rate", 1000, "`dials/s`, so that no listen backlog or tunnel accept path is overrun")
	fs.DurationVar(&j.hold, "hold", 10*time.Second, "how long to hold the connections once all are up; then each must still echo")
	return j
}

func (j *idleJob) validate() error {
	switch {
	case j.conns < 1:
		return argsErrorf("--conns %d: want 1 or more", j.conns)
	case !(j.rate > 0) || math.IsInf(j.rate, 0):
		return argsErrorf("--rate %v: want more than 0", j.rate)
	case j.hold < 0:
		return argsErrorf("--hold %v: want 0 or more", j.hold)
	}
	return nil
}

// dialling is how long dialling every connection should take at --rate.
func (j *idleJob) dialling() time.Duration {
	return time.Duration(float64(j.conns) / j.rate * float64(time.Second))
}

// planned is dialling, holding, and a check as long as dialling (the
// check is one echo round trip per connection, 64 at a time).
func (j *idleJob) planned(*loadOpts) time.Duration { return 2*j.dialling() + j.hold }

func (j *idleJob) backend() string { return "echo" }

type idleReport struct {
	reportHead
	Params struct {
		Conns int          `json:"conns"`
		Rate  float64      `json:"rate"`
		Hold  jsonDuration `json:"hold"`
	} `json:"params"`
	Held    int     `json:"held"`
	Dial    float64 `json:"dial_s"`
	HeldFor float64 `json:"held_s"`
	Checked bool    `json:"checked"`
}

func (j *idleJob) run(ctx context.Context, o *loadOpts, p *progress) (report, error) {
	rep := &idleReport{}
	rep.Params.Conns, rep.Params.Rate, rep.Params.Hold = j.conns, j.rate, jsonDuration(j.hold)
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start).Seconds() }()

	p.phase(fmt.Sprintf("idle: dialling %d conns to %s", j.conns, o.addr), j.dialling(), 0)
	held, err := loadgen.Idle{Addr: o.addr, Conns: j.conns, DialRate: j.rate}.Hold(ctx)
	rep.Dial = time.Since(start).Seconds()
	if err != nil {
		return rep, err
	}
	defer held.Close()
	rep.Held = held.Len()

	p.phase(fmt.Sprintf("idle: holding %d conns to %s", held.Len(), o.addr), j.hold, 0)
	holding := time.Now()
	timer := time.NewTimer(j.hold)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		rep.HeldFor = time.Since(holding).Seconds()
		return rep, ctx.Err()
	case <-timer.C:
	}
	rep.HeldFor = time.Since(holding).Seconds()

	p.phase(fmt.Sprintf("idle: checking %d conns to %s still echo", held.Len(), o.addr), 0, 0)
	if err := held.Check(ctx); err != nil {
		return rep, err
	}
	rep.Checked = true
	return rep, nil
}

func (r *idleReport) text(w io.Writer) {
	r.title(w, "idle to %s: %s dialled at %g/s, held %s", r.Addr, plural(int64(r.Params.Conns), "conn"), r.Params.Rate, r.Params.Hold)
	fmt.Fprintf(w, "  %d held: all up and echoing after %v, then held %v\n", r.Held, secs(r.Dial), secs(r.HeldFor))
	if r.Checked {
		fmt.Fprintf(w, "  all %d still echo after the hold\n", r.Held)
	} else {
		fmt.Fprintf(w, "  not checked after the hold\n")
	}
}
