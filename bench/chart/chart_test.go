package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// Synthetic cases: direct, two engines, one whose every run failed and one
// whose name needs escaping.
const (
	caseDirect = "direct"
	caseCopy   = "tunnel/gocopy"
	caseSplice = "tunnel/epollsplice"
	caseBroken = "tunnel/broken"
	caseEvil   = `tunnel/<&>"'`
)

var allWorkloads = []string{"bulk-1", "bulk-4", "rr-c1", "rr-c64", "rr-open50", "rr-open90", "http-small", "churn", "idle"}

// scaleOf gives each case's metrics a distinct multiple, so that ratios can
// be checked.
var scaleOf = map[string]float64{caseDirect: 1, caseCopy: 0.5, caseSplice: 0.8, caseEvil: 0.25}

// metricsFor returns plausible metrics for one run: repeat shifts values
// by -1 %, 0, +1 % so that medians and whiskers are known.
func metricsFor(c, w string, repeat int) map[string]float64 {
	f := scaleOf[c] * (1 + 0.01*float64(repeat-2))
	relayed := c != caseDirect
	m := map[string]float64{}
	lat := func(base float64) {
		// Slower cases have higher latency; the spread p50..p99.9 is 100×.
		k := base / scaleOf[c] * (1 + 0.01*float64(repeat-2))
		m[results.MetricP50], m[results.MetricP90], m[results.MetricP99], m[results.MetricP999] = k, 3*k, 20*k, 100*k
	}
	switch {
	case strings.HasPrefix(w, "bulk"):
		m[results.MetricMBps] = 4000 * f
		if relayed {
			m[results.MetricCPUPerGB] = 0.4 / f
		}
	case w == "rr-c1":
		lat(20)
	case strings.HasPrefix(w, "rr-open"):
		lat(30)
		m[results.MetricOffered] = 50000 * scaleOf[c]
	case w == "rr-c64", w == "http-small":
		m[results.MetricRPS] = 200000 * f
		lat(300)
		if relayed {
			m[results.MetricCPUPer10k] = 0.05 / f
		}
	case w == "churn":
		m[results.MetricConnsPerSec] = 20000 * f
		if relayed {
			m[results.MetricCPUPer10k] = 0.2 / f
		}
	case w == "idle":
		if relayed {
			m[results.MetricIdleBytes] = 9000 / f
			m[results.MetricIdleConns] = 10000
		}
	}
	return m
}

// synthetic returns Results for cases and workloads with three repeats
// each, summarised. caseBroken's runs all fail.
func synthetic(cases, workloads []string) *results.Results {
	r := &results.Results{
		Provenance: results.Provenance{
			Date:       time.Date(2026, 11, 23, 20, 25, 0, 0, time.UTC),
			Host:       "bench-1",
			Commit:     "0123abc+dirty",
			Kernel:     "6.12.0",
			CPU:        "AMD EPYC 9454P 48-Core Processor",
			CPUs:       8,
			GOMAXPROCS: "4",
		},
		Matrix:  results.Matrix{Preset: "default", Cases: cases, Workloads: workloads, Repeats: 3, Pin: "none"},
		Metrics: results.Catalogue,
	}
	for _, w := range workloads {
		for _, c := range cases {
			for rep := 1; rep <= 3; rep++ {
				run := results.Run{Case: c, Workload: w, Repeat: rep, OK: c != caseBroken}
				if run.OK {
					run.Metrics = metricsFor(c, w, rep)
				} else {
					run.Error = "client: dial: connection refused"
				}
				r.Runs = append(r.Runs, run)
			}
		}
	}
	r.Summarize()
	return r
}

// xnode is any XML element, for walking a parsed SVG.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Kids    []xnode    `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// find returns every element under n (n included) that keep accepts, in
// document order.
func (n *xnode) find(keep func(*xnode) bool) []*xnode {
	var out []*xnode
	var walk func(*xnode)
	walk = func(x *xnode) {
		if keep(x) {
			out = append(out, x)
		}
		for i := range x.Kids {
			walk(&x.Kids[i])
		}
	}
	walk(n)
	return out
}

// parse checks that data is a well-formed SVG document and returns it.
func parse(t *testing.T, name string, data []byte) *xnode {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
	}
	var doc xnode
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if doc.XMLName.Local != "svg" || doc.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("%s: root element is %v, want svg in the SVG namespace", name, doc.XMLName)
	}
	return &doc
}

func num64(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad number %q: %v", s, err)
	}
	return f
}

// writeAll runs Write into a new directory and returns the names and the
// parsed files by name.
func writeAll(t *testing.T, r *results.Results) ([]string, map[string]*xnode, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	names, err := Write(dir, r)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	docs, raw := map[string]*xnode{}, map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		raw[n], docs[n] = b, parse(t, n, b)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(names) {
		t.Errorf("dir holds %d files, Write named %d", len(entries), len(names))
	}
	return names, docs, raw
}

// bars returns the bar rects of doc by "group|series".
func bars(doc *xnode) map[string]*xnode {
	out := map[string]*xnode{}
	for _, r := range doc.find(func(x *xnode) bool { return x.XMLName.Local == "rect" && x.attr("class") == "bar" }) {
		out[r.attr("data-group")+"|"+r.attr("data-series")] = r
	}
	return out
}

func TestWriteFileSet(t *testing.T) {
	cases := []string{caseDirect, caseCopy, caseSplice, caseBroken}
	for _, tc := range []struct {
		name      string
		workloads []string
		want      []string
	}{
		{
			name:      "all",
			workloads: allWorkloads,
			want:      []string{"throughput.svg", "cpu.svg", "latency.svg", "latency-open.svg", "rates.svg", "cpu-per-request.svg", "idle.svg"},
		},
		{name: "bulk only", workloads: []string{"bulk-1"}, want: []string{"throughput.svg", "cpu.svg"}},
		{name: "one open loop", workloads: []string{"rr-open90"}, want: []string{"latency-open.svg"}},
		{name: "churn only", workloads: []string{"churn"}, want: []string{"rates.svg", "cpu-per-request.svg"}},
		{name: "none", workloads: []string{"something-new"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, _, _ := writeAll(t, synthetic(cases, tc.workloads))
			if !slices.Equal(names, tc.want) {
				t.Errorf("Write wrote %q, want %q", names, tc.want)
			}
		})
	}
}

func TestBarLengthProportional(t *testing.T) {
	_, docs, _ := writeAll(t, synthetic([]string{caseDirect, caseCopy, caseSplice}, []string{"bulk-1", "bulk-4"}))
	b := bars(docs["throughput.svg"])
	direct, copy := b[caseDirect+"|bulk-1"], b[caseCopy+"|bulk-1"]
	if direct == nil || copy == nil {
		t.Fatalf("bars for bulk-1 missing; have %d bars", len(b))
	}
	if v := num64(t, direct.attr("data-value")); v != 4000 {
		t.Errorf("direct bulk-1 data-value = %v, want the median 4000", v)
	}
	wd, wc := num64(t, direct.attr("width")), num64(t, copy.attr("width"))
	vd, vc := num64(t, direct.attr("data-value")), num64(t, copy.attr("data-value"))
	if got, want := wc/wd, vc/vd; math.Abs(got-want) > 0.005 {
		t.Errorf("width ratio %v, value ratio %v: bars not proportional", got, want)
	}
	if num64(t, direct.attr("x")) != num64(t, copy.attr("x")) {
		t.Error("bars do not start at one baseline")
	}
	// The label carries the value and the ratio to direct.
	labels := docs["throughput.svg"].find(func(x *xnode) bool { return x.attr("class") == "value" })
	if !slices.ContainsFunc(labels, func(x *xnode) bool { return x.Text == "2,000 (0.50×)" }) {
		t.Errorf("no label %q for gocopy bulk-1", "2,000 (0.50×)")
	}
	// cpu.svg has no direct: it runs no relay.
	for k := range bars(docs["cpu.svg"]) {
		if strings.HasPrefix(k, caseDirect+"|") {
			t.Errorf("cpu.svg has a bar for direct: %s", k)
		}
	}
}

func TestRatesRelativeToDirect(t *testing.T) {
	_, docs, _ := writeAll(t, synthetic([]string{caseDirect, caseCopy}, []string{"rr-c64", "churn"}))
	b := bars(docs["rates.svg"])
	for k, want := range map[string]float64{
		caseDirect + "|rr-c64 req/s": 1,
		caseCopy + "|rr-c64 req/s":   0.5,
		caseCopy + "|churn conn/s":   0.5,
	} {
		r := b[k]
		if r == nil {
			t.Fatalf("no bar %s", k)
		}
		if got := num64(t, r.attr("data-value")); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

func TestFailedCaseLabelled(t *testing.T) {
	_, docs, _ := writeAll(t, synthetic([]string{caseDirect, caseBroken, caseCopy}, allWorkloads))
	for name, doc := range docs {
		gaps := doc.find(func(x *xnode) bool {
			return x.attr("class") == "gap" && x.attr("data-group") == caseBroken
		})
		if len(gaps) == 0 {
			t.Errorf("%s: no gap for %s", name, caseBroken)
		}
		for _, g := range gaps {
			if g.Text != "failed" {
				t.Errorf("%s: gap for %s says %q, want failed", name, caseBroken, g.Text)
			}
		}
		for k := range bars(doc) {
			if strings.HasPrefix(k, caseBroken+"|") {
				t.Errorf("%s: a bar drawn for a failed case: %s", name, k)
			}
		}
		groups := doc.find(func(x *xnode) bool { return x.attr("class") == "group" && x.Text == caseBroken })
		if len(groups) == 0 {
			t.Errorf("%s: failed case's name not drawn", name)
		}
	}
}

func TestLatencyLogScale(t *testing.T) {
	_, docs, _ := writeAll(t, synthetic([]string{caseDirect, caseCopy}, []string{"rr-c1", "rr-open50", "rr-open90"}))
	for _, name := range []string{"latency.svg", "latency-open.svg"} {
		doc := docs[name]
		axes := doc.find(func(x *xnode) bool { return x.attr("class") == "axis" })
		if len(axes) == 0 || axes[0].attr("data-scale") != "log" {
			t.Fatalf("%s: values span 200× but the axis is not log", name)
		}
		panels := doc.find(func(x *xnode) bool { return x.attr("class") == "ticks" })
		if want := map[string]int{"latency.svg": 1, "latency-open.svg": 2}[name]; len(panels) != want {
			t.Fatalf("%s: %d tick rows, want %d", name, len(panels), want)
		}
		for _, p := range panels {
			ticks := p.find(func(x *xnode) bool { return x.attr("data-tick") != "" })
			if len(ticks) < 3 {
				t.Fatalf("%s: %d ticks", name, len(ticks))
			}
			for i := 1; i < len(ticks); i++ {
				a, b := ticks[i-1], ticks[i]
				if num64(t, b.attr("data-tick")) <= num64(t, a.attr("data-tick")) || num64(t, b.attr("x")) <= num64(t, a.attr("x")) {
					t.Errorf("%s: tick %s at x=%s follows %s at x=%s", name, b.attr("data-tick"), b.attr("x"), a.attr("data-tick"), a.attr("x"))
				}
			}
			// Every tick is 1, 2 or 5 times a power of ten.
			for _, tk := range ticks {
				v := num64(t, tk.attr("data-tick"))
				m := v / math.Pow(10, math.Floor(math.Log10(v)+1e-9))
				if !slices.ContainsFunc([]float64{1, 2, 5}, func(n float64) bool { return math.Abs(m-n) < 1e-6 }) {
					t.Errorf("%s: tick %v is not a 1-2-5 value", name, v)
				}
			}
		}
	}
	// Two panels, each case's offered rate under its name.
	open := docs["latency-open.svg"]
	rects := open.find(func(x *xnode) bool { return x.attr("class") == "bar" })
	if want := 2 * 2 * 4; len(rects) != want { // panels × cases × percentiles
		t.Errorf("latency-open.svg: %d bars, want %d", len(rects), want)
	}
	if !bytes.Contains(xmlText(open), []byte("at 50,000 req/s")) {
		t.Error("latency-open.svg does not show direct's offered rate")
	}
}

// xmlText is all the character data in n.
func xmlText(n *xnode) []byte {
	var b bytes.Buffer
	for _, x := range n.find(func(*xnode) bool { return true }) {
		b.WriteString(x.Text)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	r := synthetic([]string{caseDirect, caseCopy, caseSplice, caseBroken}, allWorkloads)
	names1, _, raw1 := writeAll(t, r)
	names2, _, raw2 := writeAll(t, r)
	if !slices.Equal(names1, names2) {
		t.Fatalf("names differ: %q, %q", names1, names2)
	}
	for _, n := range names1 {
		if !bytes.Equal(raw1[n], raw2[n]) {
			t.Errorf("%s differs between two writes", n)
		}
	}
}

func TestEscaping(t *testing.T) {
	_, docs, raw := writeAll(t, synthetic([]string{caseDirect, caseEvil}, allWorkloads))
	for name, doc := range docs {
		if bytes.Contains(raw[name], []byte(`<&>`)) {
			t.Errorf("%s holds the case name unescaped", name)
		}
		if len(doc.find(func(x *xnode) bool { return x.attr("class") == "group" && x.Text == caseEvil })) == 0 {
			t.Errorf("%s: case name %q does not read back", name, caseEvil)
		}
	}
	if _, ok := bars(docs["throughput.svg"])[caseEvil+"|bulk-1"]; !ok {
		t.Error("throughput.svg: no bar whose data-group reads back as the case name")
	}
}

func TestFootnote(t *testing.T) {
	_, docs, _ := writeAll(t, synthetic([]string{caseDirect, caseCopy}, []string{"bulk-1"}))
	text := string(xmlText(docs["throughput.svg"]))
	for _, want := range []string{"0123abc+dirty", "2026-11-23 20:25 UTC", "bench-1", "AMD EPYC 9454P", "6.12.0", "median of 3 repeats; whiskers min–max", "MB/s, higher is better"} {
		if !strings.Contains(text, want) {
			t.Errorf("throughput.svg does not say %q", want)
		}
	}
}

func TestPartialRepeats(t *testing.T) {
	r := synthetic([]string{caseDirect, caseCopy}, []string{"bulk-1"})
	r.Runs[len(r.Runs)-1].OK = false // gocopy's third repeat
	r.Summarize()
	_, docs, _ := writeAll(t, r)
	text := string(xmlText(docs["throughput.svg"]))
	if !strings.Contains(text, "[n=2/3]") {
		t.Error("a median of 2 of 3 repeats is not marked")
	}
}

func TestBarsRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		bars Bars
		log  bool
	}{
		{
			name: "linear",
			bars: Bars{Title: "t", Unit: "u", Groups: []string{"a", "b"}, Series: []Series{{Name: "s", Values: []float64{3, 7}}}},
		},
		{
			name: "log",
			bars: Bars{Title: "t", Unit: "µs", Log: true, Groups: []string{"a", "b"}, Series: []Series{{Name: "s", Values: []float64{0.3, 4000}}}},
			log:  true,
		},
		{
			name: "negative",
			bars: Bars{Title: "t", Unit: "u", Groups: []string{"a", "b"}, Series: []Series{{Name: "s", Values: []float64{-12, 40}}}},
		},
		{
			name: "all missing",
			bars: Bars{Title: "t", Unit: "u", Groups: []string{"a"}, Series: []Series{{Name: "s", Values: []float64{0}, Missing: []bool{true}}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.bars.Render(&buf); err != nil {
				t.Fatal(err)
			}
			doc := parse(t, tc.name, buf.Bytes())
			ticks := doc.find(func(x *xnode) bool { return x.attr("data-tick") != "" })
			for i := 1; i < len(ticks); i++ {
				if num64(t, ticks[i].attr("data-tick")) <= num64(t, ticks[i-1].attr("data-tick")) ||
					num64(t, ticks[i].attr("x")) <= num64(t, ticks[i-1].attr("x")) {
					t.Errorf("ticks not increasing: %s then %s", ticks[i-1].attr("data-tick"), ticks[i].attr("data-tick"))
				}
			}
			if got := doc.find(func(x *xnode) bool { return x.attr("class") == "axis" })[0].attr("data-scale") == "log"; got != tc.log {
				t.Errorf("log scale = %v, want %v", got, tc.log)
			}
			// Every value fits on the axis.
			lo, hi := num64(t, ticks[0].attr("data-tick")), num64(t, ticks[len(ticks)-1].attr("data-tick"))
			for _, v := range tc.bars.Series[0].Values {
				if tc.bars.Series[0].Missing == nil && (v < lo || v > hi) {
					t.Errorf("value %v outside the axis %v..%v", v, lo, hi)
				}
			}
		})
	}
}

func TestBarsRenderRejectsShortSeries(t *testing.T) {
	b := Bars{Title: "t", Groups: []string{"a", "b"}, Series: []Series{{Name: "s", Values: []float64{1}}}}
	if err := b.Render(io.Discard); err == nil {
		t.Error("Render accepted one value for two groups")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{1234.4, "1,234"},
		{1234567, "1,234,567"},
		{56.78, "56.8"},
		{8.9, "8.90"},
		{0.012345, "0.0123"},
		{-2500, "-2,500"},
		{-0.0001, "-0.000100"},
	} {
		if got := formatValue(tc.v); got != tc.want {
			t.Errorf("formatValue(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
