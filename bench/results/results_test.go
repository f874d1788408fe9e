package results

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestSummarize(t *testing.T) {
	r := &Results{
		Matrix: Matrix{Cases: []string{"direct", "tunnel/x"}, Workloads: []string{"bulk-1"}, Repeats: 3},
		Runs: []Run{
			{Case: "direct", Workload: "bulk-1", Repeat: 1, OK: true, Metrics: map[string]float64{MetricMBps: 30}},
			{Case: "direct", Workload: "bulk-1", Repeat: 2, OK: true, Metrics: map[string]float64{MetricMBps: 10}},
			{Case: "direct", Workload: "bulk-1", Repeat: 3, OK: true, Metrics: map[string]float64{MetricMBps: 20}},
			// A failed run's figures never reach the summary.
			{Case: "tunnel/x", Workload: "bulk-1", Repeat: 1, OK: false, Error: "boom", Metrics: map[string]float64{MetricMBps: 999}},
		},
	}
	r.Summarize()
	want := []Summary{
		{Case: "direct", Workload: "bulk-1", Metrics: map[string]Stat{MetricMBps: {Median: 20, Min: 10, Max: 30, N: 3}}},
		{Case: "tunnel/x", Workload: "bulk-1", Metrics: map[string]Stat{}},
	}
	if !reflect.DeepEqual(r.Summary, want) {
		t.Fatalf("summary\n%+v\nwant\n%+v", r.Summary, want)
	}
	if s, ok := r.Lookup("tunnel/x", "bulk-1"); !ok || len(s.Metrics) != 0 {
		t.Errorf("a case whose runs all failed: %+v, %v; want an entry with no metrics", s, ok)
	}
	if _, ok := r.Lookup("tunnel/y", "bulk-1"); ok {
		t.Error("Lookup found a case that did not run")
	}

	// Even repeats: the median is the mean of the middle two.
	r.Runs = append(r.Runs, Run{Case: "direct", Workload: "bulk-1", Repeat: 4, OK: true, Metrics: map[string]float64{MetricMBps: 25}})
	r.Summarize()
	if got := r.Summary[0].Metrics[MetricMBps].Median; got != 22.5 {
		t.Errorf("median of 10, 20, 25, 30 = %v, want 22.5", got)
	}

	path := filepath.Join(t.TempDir(), "results.json")
	r.Metrics = Catalogue
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Summary, r.Summary) || len(back.Runs) != len(r.Runs) || len(back.Metrics) != len(Catalogue) {
		t.Errorf("results.json does not round-trip")
	}
	if m, ok := back.MetricInfo(MetricCPUPerGB); !ok || m.Better != Lower {
		t.Errorf("MetricInfo(%s) = %+v, %v", MetricCPUPerGB, m, ok)
	}
}
