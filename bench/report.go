package bench

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes one line per row: throughput, and CPU seconds per GB
// moved for each ferry process and both together. MB and GB are 10^6 and
// 10^9 bytes.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tMB/s\tGB moved\tserver CPU s/GB\tclient CPU s/GB\ttotal CPU s/GB\tcheck\t")
	for _, r := range rows {
		check := "ok"
		if !r.OK() {
			check = "MISMATCH"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.3f\t%.3f\t%.3f\t%s\t\n", r.Engine, r.MBps(), float64(r.Received.Bytes)/1e9,
			r.CPUPerGB(r.ServerCPU), r.CPUPerGB(r.ClientCPU), r.CPUPerGB(r.ServerCPU+r.ClientCPU), check)
	}
	return tw.Flush()
}

// Provenance is where and how a run happened, so a number can be traced and
// reproduced.
type Provenance struct {
	Date       time.Time
	Commit     string // git commit of the working tree, "+dirty" when it has changes
	Ferry      string // `ferry version` of the binary measured, on one line
	Kernel     string
	CPU        string // model name
	CPUs       int
	GOMAXPROCS string // what the ferry processes ran with
	GoVersion  string // of the harness
	Duration   time.Duration
}

// CollectProvenance gathers the Provenance of a run with cfg. A fact it
// cannot learn is "unknown".
func CollectProvenance(cfg Config) Provenance {
	p := Provenance{
		Date:       time.Now().UTC(),
		Commit:     gitCommit(),
		Ferry:      "unknown",
		Kernel:     "unknown",
		CPU:        "unknown",
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: os.Getenv("GOMAXPROCS"),
		GoVersion:  runtime.Version(),
		Duration:   cfg.Duration,
	}
	if p.GOMAXPROCS == "" {
		p.GOMAXPROCS = fmt.Sprintf("unset (the runtime uses the %d CPUs)", p.CPUs)
	}
	if out, err := exec.Command(cfg.Ferry, "version").Output(); err == nil {
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

// WriteReport writes a full record of a run: provenance, the table, the
// exact commands, and every counter the processes reported, which show the
// path each engine took.
func WriteReport(w io.Writer, p Provenance, rows []Row) error {
	// The provenance lines are also benchfmt configuration lines (lower-case
	// key, colon, value), so benchstat labels the results with them.
	fmt.Fprintf(w, "# ferry bench (day-one harness)\n")
	fmt.Fprintf(w, "date: %s\n", p.Date.Format(time.RFC3339))
	fmt.Fprintf(w, "commit: %s\n", p.Commit)
	fmt.Fprintf(w, "ferry: %s\n", p.Ferry)
	fmt.Fprintf(w, "kernel: %s\n", p.Kernel)
	fmt.Fprintf(w, "cpu: %s (%d CPUs)\n", p.CPU, p.CPUs)
	fmt.Fprintf(w, "gomaxprocs: %s\n", p.GOMAXPROCS)
	fmt.Fprintf(w, "goversion: %s (harness)\n", p.GoVersion)
	fmt.Fprintf(w, "topology: one host, loopback: writer -> public port (ferry server) -> data connection -> ferry client -> sink; "+
		"writer and sink in the harness process; 1 stream of %v; CPU from /proc/PID/stat over the stream\n\n", p.Duration)
	if err := WriteTable(w, rows); err != nil {
		return err
	}
	// The same numbers in the Go benchmark format, for benchstat.
	fmt.Fprintln(w)
	for _, r := range rows {
		if !r.OK() {
			continue
		}
		fmt.Fprintf(w, "BenchmarkTunnel/engine=%s/streams=1 1 %d ns/op %.2f MB/s %.4f server-cpu-s/GB %.4f client-cpu-s/GB %.4f cpu-s/GB\n",
			r.Engine, r.Elapsed.Nanoseconds(), r.MBps(), r.CPUPerGB(r.ServerCPU), r.CPUPerGB(r.ClientCPU), r.CPUPerGB(r.ServerCPU+r.ClientCPU))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "\n## %s\n", r.Engine)
		fmt.Fprintf(w, "sent %d bytes crc32c %08x; received %d bytes crc32c %08x in %v\n",
			r.Sent.Bytes, r.Sent.Sum, r.Received.Bytes, r.Received.Sum, r.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(w, "cpu: server %v, client %v\n", r.ServerCPU, r.ClientCPU)
		for _, c := range r.Commands {
			fmt.Fprintf(w, "$ %s\n", c)
		}
		writeCounters(w, "server counters", r.ServerCounters)
		writeCounters(w, "client counters", r.ClientCounters)
	}
	return nil
}

func writeCounters(w io.Writer, what string, m map[string]uint64) {
	if m == nil {
		fmt.Fprintf(w, "%s: none (the process did not stop cleanly)\n", what)
		return
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%d", k, m[k])
	}
	fmt.Fprintf(w, "%s:%s\n", what, b.String())
}
