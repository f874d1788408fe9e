package bench

import (
	"strings"
	"testing"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// TestWriteTLSCost pins the cost-of-encryption lines: ratios of the same
// run's medians, tunnel-tls over tunnel per engine, and n/a wherever either
// side has no median.
func TestWriteTLSCost(t *testing.T) {
	r := &results.Results{
		Matrix: results.Matrix{
			Cases:     []string{Direct, "tunnel/gocopy", "tunnel/gocopybuf", "tunnel-tls/gocopy", "tunnel-tls/gocopybuf", "tunnel-tls/lonely"},
			Workloads: []string{"bulk-1", "rr-c1", "churn"},
			Repeats:   1,
		},
		Metrics: results.Catalogue,
	}
	add := func(c, w string, m map[string]float64) {
		r.Runs = append(r.Runs, results.Run{Case: c, Workload: w, Repeat: 1, OK: true, Metrics: m})
	}
	add("tunnel/gocopy", "bulk-1", map[string]float64{results.MetricMBps: 1000, results.MetricCPUPerGB: 0.5})
	add("tunnel-tls/gocopy", "bulk-1", map[string]float64{results.MetricMBps: 400, results.MetricCPUPerGB: 2})
	add("tunnel/gocopy", "rr-c1", map[string]float64{results.MetricP50: 100})
	add("tunnel-tls/gocopy", "rr-c1", map[string]float64{results.MetricP50: 125})
	add("tunnel/gocopy", "churn", map[string]float64{results.MetricConnsPerSec: 1000, results.MetricCPUPer10k: 5})
	add("tunnel-tls/gocopy", "churn", map[string]float64{results.MetricConnsPerSec: 250, results.MetricCPUPer10k: 20})
	// gocopybuf's tunnel-tls bulk run failed; its rr-c1 and churn never ran.
	add("tunnel/gocopybuf", "bulk-1", map[string]float64{results.MetricMBps: 800, results.MetricCPUPerGB: 1})
	r.Runs = append(r.Runs, results.Run{Case: "tunnel-tls/gocopybuf", Workload: "bulk-1", Repeat: 1, Error: "boom"})
	// lonely has no tunnel case to compare with.
	add("tunnel-tls/lonely", "bulk-1", map[string]float64{results.MetricMBps: 100, results.MetricCPUPerGB: 3})
	r.Summarize()

	var b strings.Builder
	if err := WriteTLSCost(&b, r); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(line); len(f) == 6 {
			rows[f[0]] = f[1:]
		}
	}
	for engine, want := range map[string][]string{
		"gocopy":    {"0.40", "4.00", "1.25", "0.25", "4.00"},
		"gocopybuf": {"n/a", "n/a", "n/a", "n/a", "n/a"},
		"lonely":    {"n/a", "n/a", "n/a", "n/a", "n/a"},
	} {
		if got := rows[engine]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v, want %v; all of it:\n%s", engine, got, want, b.String())
		}
	}

	// Without tunnel-tls there is nothing to say.
	r.Matrix.Cases = []string{Direct, "tunnel/gocopy"}
	b.Reset()
	if err := WriteTLSCost(&b, r); err != nil || b.Len() != 0 {
		t.Errorf("no tunnel-tls: wrote %q, %v; want nothing", b.String(), err)
	}
}
