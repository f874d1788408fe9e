package results

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/montanaflynn/stats"
)

// Results is everything one harness run produced: results.json. Charts, the
// README table and the terminal table are all made from it, so a committed
// figure can always be regenerated from the file beside it.
type Results struct {
	Provenance Provenance `json:"provenance"`
	Matrix     Matrix     `json:"matrix"`
	// Metrics describes every metric name a Run or Summary may carry, in
	// display order.
	Metrics []Metric `json:"metrics"`
	// Runs is every single measurement, in the order it ran.
	Runs []Run `json:"runs"`
	// Summary is one entry per case and workload that ran, in matrix
	// order: the median and spread of each metric over the repeats.
	Summary []Summary `json:"summary"`
}

// Provenance is where and how a run happened, so that a figure can be traced
// and reproduced. A fact the harness could not learn is "unknown".
type Provenance struct {
	Date       time.Time `json:"date"`
	Host       string    `json:"host"`
	Commit     string    `json:"commit"` // git commit of the working tree, "+dirty" when it had changes
	Ferry      string    `json:"ferry"`  // `ferry version` of the binary measured
	Kernel     string    `json:"kernel"`
	CPU        string    `json:"cpu"` // model name
	CPUs       int       `json:"cpus"`
	GOMAXPROCS string    `json:"gomaxprocs"` // what the ferry processes ran with
	GoVersion  string    `json:"go_version"` // of the harness
	Command    string    `json:"command"`    // the harness's command line
	// Elapsed is how long the whole run took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Matrix is what was asked for: the cases, workloads, repeats and settings
// of a run, recorded so that it can be reproduced.
type Matrix struct {
	Preset    string   `json:"preset"` // "default", "quick" or "full"
	Cases     []string `json:"cases"`  // Case names, such as "direct", "tunnel/gocopy" and "tunnel-tls/gocopy"
	Workloads []string `json:"workloads"`
	Repeats   int      `json:"repeats"`
	// Pin says where processes ran: "none" (the scheduler's choice), or
	// "relay=CPU,load=CPU" when ferry processes and the load generator
	// were pinned to separate CPUs.
	Pin string `json:"pin"`
	// Settings are the workloads' parameters (durations, sizes,
	// concurrency), as flag=value strings.
	Settings []string `json:"settings"`
	// Unavailable are the cases asked for that this machine cannot run,
	// with why; they are not in Cases and made no runs.
	Unavailable []Unavailable `json:"unavailable,omitempty"`
}

// An Unavailable is a case that could not run here: an external relay that
// is not installed, or that refused the case's configuration when asked to
// check it (nginx without its stream module). It is not a failure.
type Unavailable struct {
	Case string `json:"case"` // "haproxy", "nginx"
	Why  string `json:"why"`
}

// Better says which way a metric improves.
type Better string

const (
	Higher Better = "higher"
	Lower  Better = "lower"
)

// A Metric names one measured quantity.
type Metric struct {
	Name   string `json:"name"` // key in Run.Metrics, such as "mbps"
	Unit   string `json:"unit"` // such as "MB/s", "µs", "CPU-s/GB"
	Better Better `json:"better"`
	Doc    string `json:"doc"`
}

// A Run is one workload against one case, once.
type Run struct {
	Case     string `json:"case"`     // "direct", "tunnel/ENGINE", "tunnel-tls/ENGINE", "forward/ENGINE", "haproxy", "nginx"
	Topology string `json:"topology"` // "direct", "tunnel", "tunnel-tls", "forward", "haproxy" or "nginx"
	Engine   string `json:"engine,omitempty"`
	Workload string `json:"workload"`
	Repeat   int    `json:"repeat"` // 1-based
	// OK is false when the run failed: an error, or bytes that did not
	// arrive intact. A failed run's metrics are not summarised.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Metrics by name (see Results.Metrics); a run has those its workload
	// measures.
	Metrics map[string]float64 `json:"metrics"`
	// Counters the ferry processes logged as they stopped, by process
	// ("server", "client", "forward"); empty for direct, haproxy and
	// nginx, which log none.
	Counters map[string]map[string]uint64 `json:"counters,omitempty"`
	// Commands are the ferry command lines, token elided.
	Commands []string `json:"commands,omitempty"`
}

// A Summary is one case and workload over its repeats.
type Summary struct {
	Case     string          `json:"case"`
	Workload string          `json:"workload"`
	Metrics  map[string]Stat `json:"metrics"`
}

// A Stat is one metric over the repeats that succeeded.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Summarize fills r.Summary from r.Runs: for each case and workload in
// matrix order, every metric's median, min and max over the runs that
// succeeded. A case and workload with no successful run gets an entry with
// no metrics, so a failure shows as a gap rather than vanishing.
func (r *Results) Summarize() {
	r.Summary = nil
	for _, w := range r.Matrix.Workloads {
		for _, c := range r.Matrix.Cases {
			s := Summary{Case: c, Workload: w, Metrics: map[string]Stat{}}
			values := map[string][]float64{}
			for _, run := range r.Runs {
				if run.Case != c || run.Workload != w || !run.OK {
					continue
				}
				for k, v := range run.Metrics {
					values[k] = append(values[k], v)
				}
			}
			for k, vs := range values {
				s.Metrics[k] = statOf(vs)
			}
			r.Summary = append(r.Summary, s)
		}
	}
}

func statOf(vs []float64) Stat {
	data := stats.Float64Data(vs)
	med, _ := data.Median()
	lo, _ := data.Min()
	hi, _ := data.Max()
	return Stat{Median: med, Min: lo, Max: hi, N: len(vs)}
}

// Lookup returns the summary of case c under workload w.
func (r *Results) Lookup(c, w string) (Summary, bool) {
	i := slices.IndexFunc(r.Summary, func(s Summary) bool { return s.Case == c && s.Workload == w })
	if i < 0 {
		return Summary{}, false
	}
	return r.Summary[i], true
}

// MetricInfo returns the description of the metric named name.
func (r *Results) MetricInfo(name string) (Metric, bool) {
	i := slices.IndexFunc(r.Metrics, func(m Metric) bool { return m.Name == name })
	if i < 0 {
		return Metric{}, false
	}
	return r.Metrics[i], true
}

// WriteJSON writes r to path, indented, so that diffs of committed results
// read line by line.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads a results.json.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return &r, nil
}
