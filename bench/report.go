package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// columns are the metrics each workload's table shows, in order.
var columns = map[string][]string{
	"bulk":  {results.MetricMBps, results.MetricCPUPerGB, results.MetricCPUUser, results.MetricCPUSys, results.MetricServerRSS, results.MetricClientRSS},
	"rr":    {results.MetricRPS, results.MetricP50, results.MetricP99, results.MetricP999, results.MetricCPUPer10k},
	"open":  {results.MetricOffered, results.MetricRPS, results.MetricP50, results.MetricP90, results.MetricP99, results.MetricP999, results.MetricMax},
	"http":  {results.MetricRPS, results.MetricP50, results.MetricP99, results.MetricCPUPer10k, results.MetricServerRSS},
	"churn": {results.MetricConnsPerSec, results.MetricP50, results.MetricP99, results.MetricCPUPer10k},
	"idle":  {results.MetricIdleConns, results.MetricIdleBytes, results.MetricServerRSS, results.MetricClientRSS},
}

// ratioTo says, per leading metric, whether its ratio to direct is shown:
// throughput-like metrics, where direct is the ceiling.
var ratioTo = map[string]bool{
	results.MetricMBps: true, results.MetricRPS: true, results.MetricConnsPerSec: true,
}

func columnsOf(workload string) []string {
	switch {
	case strings.HasPrefix(workload, "bulk"):
		return columns["bulk"]
	case strings.HasPrefix(workload, "rr-open"):
		return columns["open"]
	case strings.HasPrefix(workload, "rr"):
		return columns["rr"]
	case strings.HasPrefix(workload, "http"):
		if workload == "http-1m" {
			return append([]string{results.MetricMBps}, columns["http"]...)
		}
		return columns["http"]
	case workload == "churn":
		return columns["churn"]
	case workload == "idle":
		return columns["idle"]
	}
	return nil
}

// A table is one workload's medians: a row per case, a column per metric,
// and the best relay of each metric.
type table struct {
	workload string
	cols     []string
	rows     []tableRow
	best     map[string]string // metric → the case (not direct) with the best median
}

type tableRow struct {
	caseName string
	stats    map[string]results.Stat
	failed   bool
}

func makeTable(r *results.Results, workload string) table {
	t := table{workload: workload, cols: columnsOf(workload), best: map[string]string{}}
	for _, c := range r.Matrix.Cases {
		s, ok := r.Lookup(c, workload)
		if !ok {
			continue
		}
		t.rows = append(t.rows, tableRow{caseName: c, stats: s.Metrics, failed: len(s.Metrics) == 0})
	}
	for _, col := range t.cols {
		info, _ := r.MetricInfo(col)
		bestV := math.NaN()
		for _, row := range t.rows {
			st, ok := row.stats[col]
			if !ok || row.caseName == Direct || col == results.MetricOffered || col == results.MetricIdleConns {
				continue
			}
			if math.IsNaN(bestV) || (info.Better == results.Higher && st.Median > bestV) || (info.Better == results.Lower && st.Median < bestV) {
				bestV, t.best[col] = st.Median, row.caseName
			}
		}
	}
	return t
}

// WriteTable writes, per workload, a table of medians with the spread of the
// leading metric, its ratio to direct and to the best case, and a * beside
// the best case (direct excluded) of every metric; then the winners; then,
// when tunnel-tls ran, what TLS data connections cost (WriteTLSCost); then
// the cases that were not available here, with why.
func WriteTable(w io.Writer, r *results.Results) error {
	if err := writeTables(w, r); err != nil {
		return err
	}
	if err := WriteTLSCost(w, r); err != nil {
		return err
	}
	if len(r.Matrix.Unavailable) > 0 {
		fmt.Fprintln(w)
		writeUnavailable(w, r, "")
	}
	return nil
}

// writeUnavailable writes a line per case that could not run here: "nginx:
// not available: why", each line begun with prefix.
func writeUnavailable(w io.Writer, r *results.Results, prefix string) {
	for _, u := range r.Matrix.Unavailable {
		fmt.Fprintf(w, "%s%s: not available: %s\n", prefix, u.Case, u.Why)
	}
}

func writeTables(w io.Writer, r *results.Results) error {
	fmt.Fprintf(w, "ferry bench, preset %s: medians of %d repeats; [min–max] over repeats; ×direct and ×best are ratios of medians; * best relay\n",
		r.Matrix.Preset, r.Matrix.Repeats)
	for _, wl := range r.Matrix.Workloads {
		t := makeTable(r, wl)
		if len(t.rows) == 0 || len(t.cols) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", wl)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := "case\t"
		for i, col := range t.cols {
			info, _ := r.MetricInfo(col)
			head += fmt.Sprintf("%s (%s)\t", col, info.Unit)
			if i == 0 {
				head += "spread\t×direct\t×best\t"
			}
		}
		fmt.Fprintln(tw, head)
		direct, hasDirect := lookupStat(r, Direct, wl, t.cols[0])
		for _, row := range t.rows {
			line := row.caseName + "\t"
			if row.failed {
				fmt.Fprintln(tw, line+"FAILED\t")
				continue
			}
			for i, col := range t.cols {
				st, ok := row.stats[col]
				if !ok {
					line += "-\t"
				} else {
					star := ""
					if t.best[col] == row.caseName {
						star = "*"
					}
					line += formatValue(st.Median) + star + "\t"
				}
				if i == 0 {
					if !ok {
						line += "\t\t\t"
						continue
					}
					line += fmt.Sprintf("[%s–%s]\t", formatValue(st.Min), formatValue(st.Max))
					if hasDirect && ratioTo[col] && direct.Median > 0 {
						line += fmt.Sprintf("%.2f\t", st.Median/direct.Median)
					} else {
						line += "\t"
					}
					if b, ok := lookupStat(r, t.best[col], wl, col); ok && b.Median > 0 {
						line += fmt.Sprintf("%.2f\t", st.Median/b.Median)
					} else {
						line += "\t"
					}
				}
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nbest relay per workload and metric:")
	for _, wl := range r.Matrix.Workloads {
		t := makeTable(r, wl)
		var parts []string
		for _, col := range t.cols {
			if c, ok := t.best[col]; ok {
				parts = append(parts, col+" "+c)
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  %-11s %s\n", wl, strings.Join(parts, ", "))
		}
	}
	return nil
}

// tlsCost are the figures WriteTLSCost compares: throughput and CPU per GB
// of one bulk stream, latency of one request at a time, and churn, where
// every connection costs a TLS handshake (data connections are single-use).
var tlsCost = []struct{ workload, metric, label string }{
	{"bulk-1", results.MetricMBps, "bulk-1 MB/s"},
	{"bulk-1", results.MetricCPUPerGB, "bulk-1 CPU-s/GB"},
	{"rr-c1", results.MetricP50, "rr-c1 p50"},
	{"churn", results.MetricConnsPerSec, "churn conn/s"},
	{"churn", results.MetricCPUPer10k, "churn CPU-s/10k"},
}

// WriteTLSCost writes what encrypting the data connections costs: for each
// engine that ran tunnel-tls, the ratio of its tunnel-tls median to its
// tunnel median, both from r, for each figure of tlsCost; n/a where either
// median is missing (not run, failed, or not measured). It writes nothing
// when tunnel-tls did not run.
func WriteTLSCost(w io.Writer, r *results.Results) error {
	var engines []string
	for _, c := range r.Matrix.Cases {
		if e, ok := strings.CutPrefix(c, TunnelTLS+"/"); ok {
			engines = append(engines, e)
		}
	}
	if len(engines) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\ncost of TLS data connections: tunnel-tls/ENGINE ÷ tunnel/ENGINE, ratios of medians from this run\n")
	fmt.Fprintf(w, "(MB/s, conn/s: below 1 is slower with TLS; CPU-s, p50: above 1 is dearer)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "engine\t"
	for _, f := range tlsCost {
		head += f.label + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, e := range engines {
		line := e + "\t"
		for _, f := range tlsCost {
			enc, ok1 := lookupStat(r, TunnelTLS+"/"+e, f.workload, f.metric)
			plain, ok2 := lookupStat(r, Tunnel+"/"+e, f.workload, f.metric)
			if ok1 && ok2 && plain.Median > 0 {
				line += fmt.Sprintf("%.2f\t", enc.Median/plain.Median)
			} else {
				line += "n/a\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func lookupStat(r *results.Results, c, w, metric string) (results.Stat, bool) {
	s, ok := r.Lookup(c, w)
	if !ok {
		return results.Stat{}, false
	}
	st, ok := s.Metrics[metric]
	return st, ok
}

// formatValue prints a figure with three significant digits or so.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// CollectProvenance gathers the provenance of a run of the ferry binary at
// ferry. A fact it cannot learn is "unknown".
func CollectProvenance(ferry string) results.Provenance {
	p := results.Provenance{
		Date:       time.Now().UTC(),
		Host:       "unknown",
		Commit:     gitCommit(),
		Ferry:      "unknown",
		Kernel:     "unknown",
		CPU:        "unknown",
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: os.Getenv("GOMAXPROCS"),
		GoVersion:  runtime.Version(),
		Command:    strings.Join(os.Args, " "),
	}
	if h, err := os.Hostname(); err == nil {
		p.Host = h
	}
	if p.GOMAXPROCS == "" {
		p.GOMAXPROCS = fmt.Sprintf("unset (the runtime uses the %d CPUs)", p.CPUs)
	}
	if out, err := exec.Command(ferry, "version").Output(); err == nil {
		p.Ferry = strings.Join(strings.Fields(string(out)), " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		p.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				p.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return p
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown (no git commit)"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		commit += "+dirty"
	}
	return commit
}

// WriteREADME writes the README.md of a results directory: what ran, where,
// the table WriteTable prints, the charts, and how to reproduce it.
func WriteREADME(w io.Writer, r *results.Results, charts []string) error {
	p := r.Provenance
	fmt.Fprintf(w, "# ferry bench %s, %s\n\n", p.Date.Format("2006-01-02 15:04 MST"), p.Host)
	fmt.Fprintf(w, "Made by `make bench` (`%s`), never edited by hand; `results.json` beside this file holds every run, ", p.Command)
	fmt.Fprintf(w, "and `ferry-bench -charts DIR` regenerates this page and the charts from it.\n\n")
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	for _, kv := range [][2]string{
		{"commit", p.Commit}, {"ferry", p.Ferry}, {"kernel", p.Kernel},
		{"cpu", fmt.Sprintf("%s, %d CPUs", p.CPU, p.CPUs)}, {"GOMAXPROCS", p.GOMAXPROCS}, {"go (harness)", p.GoVersion},
		{"preset", fmt.Sprintf("%s: %d repeats, %s", r.Matrix.Preset, r.Matrix.Repeats, strings.Join(r.Matrix.Settings, ", "))},
		{"pinning", r.Matrix.Pin}, {"elapsed", p.Elapsed.Round(time.Second).String()},
	} {
		fmt.Fprintf(w, "| %s | %s |\n", kv[0], strings.ReplaceAll(kv[1], "|", "\\|"))
	}
	fmt.Fprintf(w, "\nTopology: everything on one host over loopback; the load generator and the backends run in the harness process. ")
	fmt.Fprintf(w, "`direct` is the load generator straight to the backend (the ceiling); `tunnel/ENGINE` goes through a real `ferry server` and `ferry client`, both on ENGINE; ")
	fmt.Fprintf(w, "`tunnel-tls/ENGINE` is the same with TLS 1.3 on the control and every data connection (`--tls --tls-data`, the server's self-signed certificate pinned with `--server-fingerprint`), for the engines that can relay TLS; ")
	fmt.Fprintf(w, "`forward/ENGINE` through one `ferry forward`; `haproxy` and `nginx` through one of those. CPU is the relay processes' (server plus client), from /proc/PID/stat over the measured window. ")
	fmt.Fprintf(w, "docs/methodology.md explains every workload and metric.\n\n")
	for _, c := range charts {
		fmt.Fprintf(w, "![%s](%s)\n\n", strings.TrimSuffix(c, ".svg"), c)
	}
	failed := 0
	for _, run := range r.Runs {
		if !run.OK {
			failed++
		}
	}
	fmt.Fprintf(w, "## Tables\n\n%d runs, %d failed.\n\n", len(r.Runs), failed)
	if len(r.Matrix.Unavailable) > 0 {
		fmt.Fprintf(w, "Asked for, but not available on this machine, so not run (not failures):\n\n")
		writeUnavailable(w, r, "- ")
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "```\n")
	if err := writeTables(w, r); err != nil {
		return err
	}
	fmt.Fprintf(w, "```\n")
	var cost strings.Builder
	if err := WriteTLSCost(&cost, r); err != nil {
		return err
	}
	if cost.Len() > 0 {
		fmt.Fprintf(w, "\n## Cost of encryption\n\n```%s```\n", cost.String())
	}
	if failed > 0 {
		fmt.Fprintf(w, "\n## Failed runs\n\n")
		for _, run := range r.Runs {
			if !run.OK {
				fmt.Fprintf(w, "- %s %s repeat %d: %s\n", run.Workload, run.Case, run.Repeat, strings.SplitN(run.Error, "\n", 2)[0])
			}
		}
	}
	return nil
}
