package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// directCase is the case with no relay: the ceiling the others are compared
// with. It runs no ferry process, so it has no ferry CPU or memory.
const directCase = "direct"

// logRatio is the spread of values, largest over smallest, above which a
// latency chart uses a log axis.
const logRatio = 50

// A renderer is a Bars or a Figure.
type renderer interface{ Render(io.Writer) error }

// Write renders into dir (created if need be) every chart that r has data
// for and returns the base names of the files written, in this order:
//
//	throughput.svg       bulk MB/s by case, ratio to direct on each bar
//	cpu.svg              bulk CPU-s/GB, relayed cases
//	latency.svg          rr-c1 p50, p90, p99, p99.9 by case
//	latency-open.svg     rr-open50 and rr-open90, one panel each
//	rates.svg            rr-c64 and http rps, churn conn/s, relative to direct
//	cpu-per-request.svg  CPU-s per 10k requests or connections, relayed cases
//	idle.svg             memory per idle connection, relayed cases
//
// A chart is skipped when none of its workloads is in r.Summary, or when
// they ran but none measured its metric. A case whose repeats all failed
// is drawn as a gap labelled "failed". Files are not removed: a chart
// skipped this time leaves an older file of the same name as it was.
func Write(dir string, r *results.Results) ([]string, error) {
	if r == nil {
		return nil, errors.New("chart: no results")
	}
	b := newBuilder(r)
	charts := []struct {
		name string
		make func() renderer
	}{
		{"throughput.svg", b.throughput},
		{"cpu.svg", b.cpu},
		{"latency.svg", b.latency},
		{"latency-open.svg", b.latencyOpen},
		{"rates.svg", b.rates},
		{"cpu-per-request.svg", b.cpuPerRequest},
		{"idle.svg", b.idle},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	var names []string
	for _, c := range charts {
		rd := c.make()
		if rd == nil {
			continue
		}
		var buf bytes.Buffer
		if err := rd.Render(&buf); err != nil {
			return names, fmt.Errorf("chart: %s: %w", c.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name), buf.Bytes(), 0o644); err != nil {
			return names, fmt.Errorf("chart: %w", err)
		}
		names = append(names, c.name)
	}
	return names, nil
}

// builder makes the charts of one Results.
type builder struct {
	r         *results.Results
	cases     []string // as in the summary, in matrix order
	workloads []string
}

func newBuilder(r *results.Results) *builder {
	b := &builder{r: r}
	var sCases, sWorkloads []string
	for _, s := range r.Summary {
		sCases = append(sCases, s.Case)
		sWorkloads = append(sWorkloads, s.Workload)
	}
	b.cases = presentInOrder(r.Matrix.Cases, sCases)
	b.workloads = presentInOrder(r.Matrix.Workloads, sWorkloads)
	return b
}

// presentInOrder returns the names of seen in the order of want, then any
// seen that want lacks, in the order seen.
func presentInOrder(want, seen []string) []string {
	var out []string
	for _, n := range want {
		if slices.Contains(seen, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range seen {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// workloadsWhere returns the workloads in the summary that keep accepts.
func (b *builder) workloadsWhere(keep func(string) bool) []string {
	var out []string
	for _, w := range b.workloads {
		if keep(w) {
			out = append(out, w)
		}
	}
	return out
}

// casesFor returns the cases with a summary for any of workloads, without
// direct when relayed is set.
func (b *builder) casesFor(workloads []string, relayed bool) []string {
	var out []string
	for _, c := range b.cases {
		if relayed && c == directCase {
			continue
		}
		for _, w := range workloads {
			if _, ok := b.r.Lookup(c, w); ok {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// cell is one metric of one case and workload: a Stat, or why there is none.
type cell struct {
	results.Stat
	gap string // "failed", "not run" or "not measured"; "" when Stat holds
}

func (b *builder) cell(c, w, metric string) cell {
	s, ok := b.r.Lookup(c, w)
	switch {
	case !ok:
		return cell{gap: "not run"}
	case len(s.Metrics) == 0:
		return cell{gap: "failed"}
	}
	st, ok := s.Metrics[metric]
	if !ok {
		return cell{gap: "not measured"}
	}
	return cell{Stat: st}
}

// measured reports whether metric has a value for any case under any of
// workloads, or a case failed outright there (so that the failure shows).
func (b *builder) measured(workloads []string, cases []string, metric string) bool {
	for _, w := range workloads {
		for _, c := range cases {
			if g := b.cell(c, w, metric).gap; g == "" || g == "failed" {
				return true
			}
		}
	}
	return false
}

// metric returns the description of name from the results, else from the
// catalogue, else a bare one.
func (b *builder) metric(name string) results.Metric {
	if m, ok := b.r.MetricInfo(name); ok {
		return m
	}
	if i := slices.IndexFunc(results.Catalogue, func(m results.Metric) bool { return m.Name == name }); i >= 0 {
		return results.Catalogue[i]
	}
	return results.Metric{Name: name, Unit: name}
}

// chartNotes gathers, while a chart's series are built, what its footnote
// must say.
type chartNotes struct {
	repeats int // asked for
	partial bool
}

func (b *builder) newNotes() *chartNotes { return &chartNotes{repeats: b.r.Matrix.Repeats} }

// nTag returns " [n=2/5]" when a median rests on fewer repeats than asked.
func (n *chartNotes) nTag(st results.Stat) string {
	if n.repeats > 0 && st.N < n.repeats {
		n.partial = true
		return fmt.Sprintf(" [n=%d/%d]", st.N, n.repeats)
	}
	return ""
}

// note is the footnote: lines about the chart, then the repeats, then the
// provenance.
func (b *builder) note(n *chartNotes, lines ...string) string {
	rep := "median of " + strconv.Itoa(n.repeats) + " repeats; whiskers min–max"
	if n.repeats <= 0 {
		rep = "median over repeats; whiskers min–max"
	}
	if n.partial {
		rep += "; [n=k/N] marks a median of the k repeats that succeeded"
	}
	lines = append(lines, rep, b.provenance())
	return strings.Join(lines, "\n")
}

func (b *builder) provenance() string {
	p := b.r.Provenance
	or := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	date := "unknown"
	if !p.Date.IsZero() {
		date = p.Date.UTC().Format("2006-01-02 15:04 UTC")
	}
	cpu := or(p.CPU)
	if p.CPUs > 0 {
		cpu += fmt.Sprintf(" (%d CPUs)", p.CPUs)
	}
	m := b.r.Matrix
	return fmt.Sprintf("commit %s · %s · host %s · %s · kernel %s · GOMAXPROCS %s · preset %s · pin %s · drawn by bench/chart from results.json",
		or(p.Commit), date, or(p.Host), cpu, or(p.Kernel), or(p.GOMAXPROCS), or(m.Preset), or(m.Pin))
}

// form says how a series shows a metric.
type form struct {
	relative  bool // bars are the ratio to direct's median, not the value
	withUnit  bool // the label carries the unit after the value
	withRatio bool // the label carries the ratio to direct after the value
}

// series returns metric under workload w over cases as one series of
// medians with min–max whiskers. A bar relative to direct is a gap, still
// labelled with the value, when direct has no median to divide by.
func (b *builder) series(name string, cases []string, w, metric string, f form, n *chartNotes) Series {
	m := b.metric(metric)
	d := b.cell(directCase, w, metric)
	hasDirect := d.gap == "" && d.Median > 0
	s := newSeries(name, len(cases))
	for i, c := range cases {
		x := b.cell(c, w, metric)
		if x.gap != "" {
			s.gap(i, x.gap, c+" · "+w+": "+b.gapTip(c, w, x.gap))
			continue
		}
		label := formatValue(x.Median)
		if f.withUnit {
			label += " " + m.Unit
		}
		tip := c + " · " + w + " · " + statTip(m, x.Stat)
		st := x.Stat
		switch {
		case (f.relative || f.withRatio) && !hasDirect:
			if f.relative {
				s.gap(i, label+" (no direct to compare)", tip)
				continue
			}
		case f.relative || f.withRatio:
			r := x.Median / d.Median
			label += " (" + formatRatio(r) + ")"
			tip += "; " + formatRatio(r) + " direct"
			if f.relative {
				st.Median, st.Min, st.Max = r, st.Min/d.Median, st.Max/d.Median
			}
		}
		s.set(i, st, label+n.nTag(x.Stat), tip)
	}
	return s
}

func newSeries(name string, n int) Series {
	return Series{
		Name:    name,
		Values:  make([]float64, n),
		Lo:      make([]float64, n),
		Hi:      make([]float64, n),
		Missing: make([]bool, n),
		Labels:  make([]string, n),
		Tips:    make([]string, n),
	}
}

func (s Series) set(i int, st results.Stat, label, tip string) {
	s.Values[i], s.Lo[i], s.Hi[i] = st.Median, st.Min, st.Max
	s.Labels[i], s.Tips[i] = label, tip
}

func (s Series) gap(i int, label, tip string) {
	s.Missing[i], s.Labels[i], s.Tips[i] = true, label, tip
}

// has reports whether the series has a bar or a failure to show.
func has(series ...Series) bool {
	for _, s := range series {
		for i := range s.Values {
			if !s.Missing[i] || strings.HasPrefix(s.Labels[i], "failed") {
				return true
			}
		}
	}
	return false
}

// statTip is hover text such as "mbps: median 1,234 MB/s, min 1,200, max 1,300, n=5".
func statTip(m results.Metric, st results.Stat) string {
	return fmt.Sprintf("%s: median %s %s, min %s, max %s, n=%d",
		m.Name, formatValue(st.Median), m.Unit, formatValue(st.Min), formatValue(st.Max), st.N)
}

// gapTip explains a gap, quoting the first failed run's error.
func (b *builder) gapTip(c, w, gap string) string {
	if gap != "failed" {
		return gap
	}
	runs, firstErr := 0, ""
	for _, run := range b.r.Runs {
		if run.Case == c && run.Workload == w && !run.OK {
			runs++
			if firstErr == "" {
				firstErr = run.Error
			}
		}
	}
	t := "failed"
	if runs > 0 {
		t = fmt.Sprintf("all %d runs failed", runs)
	}
	if firstErr != "" {
		if r := []rune(firstErr); len(r) > 200 {
			firstErr = string(r[:200]) + "…"
		}
		t += "; first error: " + firstErr
	}
	return t
}

func isBulk(w string) bool { return strings.HasPrefix(w, "bulk") }

// throughput: MB/s of the bulk workloads, every case, direct included as
// the ceiling.
func (b *builder) throughput() renderer {
	ws := b.workloadsWhere(isBulk)
	cases := b.casesFor(ws, false)
	if !b.measured(ws, cases, results.MetricMBps) {
		return nil
	}
	n := b.newNotes()
	bars := Bars{Title: "Bulk throughput by case", Groups: cases}
	m := b.metric(results.MetricMBps)
	bars.Unit, bars.Better = m.Unit, m.Better
	for _, w := range ws {
		bars.Series = append(bars.Series, b.series(w, cases, w, results.MetricMBps, form{withRatio: true}, n))
	}
	bars.Note = b.note(n, "Bars: MB/s through, all streams (bulk-N: N streams); labels: value (ratio to direct, the no-relay ceiling).")
	return bars
}

// cpu: CPU-s/GB of the bulk workloads, relayed cases only.
func (b *builder) cpu() renderer {
	ws := b.workloadsWhere(isBulk)
	cases := b.casesFor(ws, true)
	if !b.measured(ws, cases, results.MetricCPUPerGB) {
		return nil
	}
	n := b.newNotes()
	m := b.metric(results.MetricCPUPerGB)
	bars := Bars{Title: "Relay CPU per GB moved, bulk", Unit: m.Unit, Better: m.Better, Groups: cases}
	for _, w := range ws {
		bars.Series = append(bars.Series, b.series(w, cases, w, results.MetricCPUPerGB, form{}, n))
	}
	bars.Note = b.note(n, "CPU time (user+system) of the relay processes in the measured window per 10^9 bytes through; direct runs none.")
	return bars
}

var percentiles = []struct{ metric, name string }{
	{results.MetricP50, "p50"},
	{results.MetricP90, "p90"},
	{results.MetricP99, "p99"},
	{results.MetricP999, "p99.9"},
}

// percentileBars is one workload's latency percentiles by case, or false
// when the workload did not run. Percentiles that no case measured are left
// out, unless no case measured any: then all are kept so that the failures
// show.
func (b *builder) percentileBars(title, w string, n *chartNotes) (Bars, bool) {
	cases := b.casesFor([]string{w}, false)
	if len(cases) == 0 {
		return Bars{}, false
	}
	bars := Bars{Title: title, Groups: cases}
	var all []Series
	for _, p := range percentiles {
		s := b.series(p.name, cases, w, p.metric, form{}, n)
		all = append(all, s)
		if slices.Contains(s.Missing, false) {
			bars.Series = append(bars.Series, s)
		}
	}
	if len(bars.Series) == 0 {
		if !has(all...) {
			return Bars{}, false
		}
		bars.Series = all
	}
	m := b.metric(results.MetricP50)
	bars.Unit, bars.Better = m.Unit, m.Better
	return bars, true
}

// wantLog reports whether the bars' values, whiskers included, spread over
// more than logRatio.
func wantLog(panels ...Bars) bool {
	lo, hi := 0.0, 0.0
	for _, p := range panels {
		for _, s := range p.Series {
			for i, v := range s.Values {
				if s.Missing[i] {
					continue
				}
				for _, x := range []float64{v, s.Lo[i], s.Hi[i]} {
					if x > 0 && (lo == 0 || x < lo) {
						lo = x
					}
					hi = max(hi, x)
				}
			}
		}
	}
	return lo > 0 && hi/lo > logRatio
}

// latency: rr-c1's percentiles by case.
func (b *builder) latency() renderer {
	n := b.newNotes()
	bars, ok := b.percentileBars("Latency, rr-c1: 64 B request/response, 1 connection, closed loop", "rr-c1", n)
	if !ok {
		return nil
	}
	bars.Log = wantLog(bars)
	bars.Note = b.note(n, "Bars: latency percentiles of each run, from request sent to response received.")
	return bars
}

// latencyOpen: the open-loop workloads' percentiles, one panel each on one
// scale, each case's offered rate under its name.
func (b *builder) latencyOpen() renderer {
	n := b.newNotes()
	fig := Figure{Title: "Latency under open-loop load, from the intended send time"}
	for _, w := range b.workloadsWhere(func(w string) bool { return strings.HasPrefix(w, "rr-open") }) {
		title := w
		if pct, err := strconv.Atoi(strings.TrimPrefix(w, "rr-open")); err == nil {
			title = fmt.Sprintf("%s: offered %d%% of the case's closed-loop rr-c64 capacity", w, pct)
		}
		bars, ok := b.percentileBars(title, w, n)
		if !ok {
			continue
		}
		bars.Sub = make([]string, len(bars.Groups))
		m := b.metric(results.MetricOffered)
		for i, c := range bars.Groups {
			if x := b.cell(c, w, results.MetricOffered); x.gap == "" {
				bars.Sub[i] = "at " + formatValue(x.Median) + " " + m.Unit
			}
		}
		fig.Panels = append(fig.Panels, bars)
	}
	if len(fig.Panels) == 0 {
		return nil
	}
	for i := range fig.Panels {
		fig.Panels[i].Log = wantLog(fig.Panels...)
	}
	fig.Note = b.note(n, "Requests are sent on a fixed schedule; latency counts from when each was due, so queueing behind a slow relay shows (no coordinated omission). 64 B request/response.")
	return fig
}

// requestWorkloads are the request-shaped workloads and the rate each
// measures.
var requestWorkloads = map[string]string{
	"rr-c64":     results.MetricRPS,
	"http-small": results.MetricRPS,
	"http-1m":    results.MetricRPS,
	"churn":      results.MetricConnsPerSec,
}

func isRequest(w string) bool { _, ok := requestWorkloads[w]; return ok }

// rates: each request workload's rate as a ratio to direct's, so that
// req/s and conn/s share an axis.
func (b *builder) rates() renderer {
	ws := b.workloadsWhere(isRequest)
	cases := b.casesFor(ws, false)
	if len(cases) == 0 {
		return nil
	}
	n := b.newNotes()
	bars := Bars{Title: "Request rates relative to direct", Unit: "× direct", Better: results.Higher, Groups: cases, Ref: 1, RefLabel: "direct = 1"}
	for _, w := range ws {
		metric := requestWorkloads[w]
		bars.Series = append(bars.Series, b.series(w+" "+b.metric(metric).Unit, cases, w, metric, form{relative: true, withUnit: true}, n))
	}
	bars.Note = b.note(n, "Bars: each case's median over direct's median (the no-relay ceiling) for the same workload; labels: absolute value (ratio). rr-c64: 64 B request/response on 64 connections, closed loop; churn: a new connection per request.")
	return bars
}

// cpuPerRequest: CPU-s per 10k requests or connections, relayed cases.
func (b *builder) cpuPerRequest() renderer {
	ws := b.workloadsWhere(isRequest)
	cases := b.casesFor(ws, true)
	if !b.measured(ws, cases, results.MetricCPUPer10k) {
		return nil
	}
	n := b.newNotes()
	m := b.metric(results.MetricCPUPer10k)
	bars := Bars{Title: "Relay CPU per 10,000 requests (churn: connections)", Unit: m.Unit, Better: m.Better, Groups: cases}
	for _, w := range ws {
		bars.Series = append(bars.Series, b.series(w, cases, w, results.MetricCPUPer10k, form{}, n))
	}
	bars.Note = b.note(n, "CPU time (user+system) of the relay processes in the measured window; direct runs none.")
	return bars
}

// idle: memory per held idle connection, relayed cases.
func (b *builder) idle() renderer {
	ws := b.workloadsWhere(func(w string) bool { return w == "idle" })
	cases := b.casesFor(ws, true)
	if !b.measured(ws, cases, results.MetricIdleBytes) {
		return nil
	}
	n := b.newNotes()
	m := b.metric(results.MetricIdleBytes)
	bars := Bars{Title: "Relay memory per idle connection", Unit: m.Unit, Better: m.Better, Groups: cases,
		Sub:    make([]string, len(cases)),
		Series: []Series{b.series("idle", cases, "idle", results.MetricIdleBytes, form{}, n)}}
	for i, c := range cases {
		if x := b.cell(c, "idle", results.MetricIdleConns); x.gap == "" {
			bars.Sub[i] = formatValue(x.Median) + " conns held"
		}
	}
	line := "Resident memory the relay processes grew by while holding idle tunneled connections, per connection."
	bars.Note = b.note(n, line)
	return bars
}
