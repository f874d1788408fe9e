package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// Topologies: how the load reaches its backend.
const (
	Direct = "direct" // loadgen straight to the backend: the ceiling
	Tunnel = "tunnel" // loadgen → ferry server → ferry client → backend
	// TunnelTLS is Tunnel with TLS 1.3 on the control and every data
	// connection (--tls --tls-data, the server's self-signed certificate
	// pinned by fingerprint), so every relayed byte is encrypted between
	// server and client. Only engines that `ferry engines` marks tls-data
	// can run it.
	TunnelTLS = "tunnel-tls"
	Forward   = "forward" // loadgen → ferry forward → backend: one hop
	HAProxy   = "haproxy" // loadgen → HAProxy (mode tcp, splice) → backend: one hop, for comparison
	Nginx     = "nginx"   // loadgen → nginx stream proxy → backend: one hop, for comparison
)

// topologyNames is every topology, for error messages.
const topologyNames = "direct, tunnel, tunnel-tls, forward, haproxy or nginx"

// A Preset is a named matrix: which topologies and workloads, how many
// repeats, how long each run. docs/methodology.md lists them with their time
// budgets.
type Preset struct {
	Name       string
	Topologies []string
	Workloads  []string
	Repeats    int
	Duration   time.Duration // measured period of each run
	Warmup     time.Duration // unmeasured run before it (rr, http, churn)
	IdleConns  int
}

// Presets, by name. default is `make bench`; quick is `make bench-quick`
// and the test that runs the harness in `make test`; full is `make
// bench-full`.
var Presets = map[string]Preset{
	"default": {
		Name:       "default",
		Topologies: []string{Direct, Tunnel, TunnelTLS},
		Workloads:  []string{"bulk-1", "bulk-4", "rr-c1", "rr-c64", "rr-open50", "rr-open90", "http-small", "churn", "idle"},
		Repeats:    3,
		Duration:   3 * time.Second,
		Warmup:     500 * time.Millisecond,
		IdleConns:  2000,
	},
	"quick": {
		Name:       "quick",
		Topologies: []string{Direct, Tunnel, TunnelTLS},
		Workloads:  []string{"bulk-1", "bulk-4", "rr-c1", "rr-c64", "rr-open50", "rr-open90", "http-small", "churn", "idle"},
		Repeats:    1,
		Duration:   300 * time.Millisecond,
		Warmup:     100 * time.Millisecond,
		IdleConns:  100,
	},
	"full": {
		Name:       "full",
		Topologies: []string{Direct, Tunnel, TunnelTLS, Forward, HAProxy, Nginx},
		Workloads:  []string{"bulk-1", "bulk-4", "bulk-1-down", "rr-c1", "rr-c64", "rr-open50", "rr-open90", "http-small", "http-1m", "churn", "idle"},
		Repeats:    3,
		Duration:   5 * time.Second,
		Warmup:     time.Second,
		// 3,000, not more: a gocopy pair holds six fds in each ferry
		// process (two sockets, two splice pipes), and at 20,000 fds, this
		// machine's hard limit, 4,000 pairs ran the processes out of
		// descriptors (results/20261123-222117-vm).
		IdleConns: 3000,
	},
}

// Config says what to measure. Ferry is required; every other zero field
// means the preset's value, or the documented default.
type Config struct {
	// Ferry is the path of the ferry binary to run. Required.
	Ferry string
	// Preset names the matrix. Zero means "default".
	Preset string
	// Engines to measure, in order. Zero means every engine the binary
	// has, as `ferry engines` lists them: the binary is what is measured,
	// so it, not this build, says which engines exist. tunnel-tls runs
	// those of them that the binary lists as tls-data.
	Engines []string
	// Workloads and Topologies narrow the preset's; zero means all of it.
	Workloads, Topologies []string
	// Repeats, Duration, Warmup and IdleConns override the preset's.
	Repeats          int
	Duration, Warmup time.Duration
	IdleConns        int
	// StartTimeout bounds each wait for a process to start, for the tunnel
	// to be ready, and for processes to stop. Zero means 20 s: generous,
	// as CI machines are small and busy.
	StartTimeout time.Duration
	// Progress receives a line per run. Nil discards.
	Progress io.Writer
	// PinRelay and PinLoad, when both are set (CPU numbers, as in
	// "relay=0,load=1"), pin every relay process (ferry, HAProxy) to
	// CPU PinRelay and the harness (load generator and backends) to
	// PinLoad. Nil means no pinning, the default: see docs/methodology.md.
	PinRelay, PinLoad *int
	// ProfileDir, when set, makes this a profiling run: every ferry
	// process writes a CPU and a heap profile there, named for its
	// workload, case and role. Profiling costs CPU, so the figures of a
	// profiling run are not the benchmark's; they are never published.
	ProfileDir string
}

// plan is a Config with every default filled in.
type plan struct {
	Config
	preset      Preset
	cases       []caseSpec
	unavailable []results.Unavailable // cases asked for that cannot run here
}

// A caseSpec is one column of the comparison: a topology and, except for
// direct, the engine both ferry ends run.
type caseSpec struct {
	topology, engine string
}

func (c caseSpec) name() string {
	if c.engine == "" {
		return c.topology
	}
	return c.topology + "/" + c.engine
}

func newPlan(cfg Config) (*plan, error) {
	if cfg.Ferry == "" {
		return nil, errors.New("bench: Config.Ferry (the ferry binary) is required")
	}
	if cfg.Preset == "" {
		cfg.Preset = "default"
	}
	preset, ok := Presets[cfg.Preset]
	if !ok {
		return nil, fmt.Errorf("bench: unknown preset %q: want default, quick or full", cfg.Preset)
	}
	p := &plan{Config: cfg, preset: preset}
	if len(p.Workloads) == 0 {
		p.Workloads = preset.Workloads
	}
	for _, w := range p.Workloads {
		if _, ok := workloads[w]; !ok {
			return nil, fmt.Errorf("bench: unknown workload %q: want one of %s", w, strings.Join(slices.Sorted(maps.Keys(workloads)), ", "))
		}
	}
	if len(p.Topologies) == 0 {
		p.Topologies = preset.Topologies
	}
	if p.Repeats == 0 {
		p.Repeats = preset.Repeats
	}
	if p.Duration == 0 {
		p.Duration = preset.Duration
	}
	if p.Warmup == 0 {
		p.Warmup = preset.Warmup
	}
	if p.IdleConns == 0 {
		p.IdleConns = preset.IdleConns
	}
	if p.StartTimeout == 0 {
		p.StartTimeout = 20 * time.Second
	}
	if p.Progress == nil {
		p.Progress = io.Discard
	}
	if p.Repeats < 1 || p.Duration <= 0 || p.Warmup < 0 || p.IdleConns < 1 {
		return nil, fmt.Errorf("bench: repeats %d, duration %v, warmup %v, idle conns %d: want at least 1, above 0, 0 or more, at least 1",
			p.Repeats, p.Duration, p.Warmup, p.IdleConns)
	}
	var listed []EngineInfo // `ferry engines`, asked at most once
	listEngines := func() ([]EngineInfo, error) {
		var err error
		if listed == nil {
			listed, err = ListEngines(p.Ferry)
		}
		return listed, err
	}
	if len(p.Engines) == 0 {
		infos, err := listEngines()
		if err != nil {
			return nil, err
		}
		for _, e := range infos {
			p.Engines = append(p.Engines, e.Name)
		}
	}
	for _, t := range p.Topologies {
		switch t {
		case Direct:
			p.cases = append(p.cases, caseSpec{topology: Direct})
		case Tunnel, Forward:
			for _, e := range p.Engines {
				p.cases = append(p.cases, caseSpec{topology: t, engine: e})
			}
		case TunnelTLS:
			// The engines asked for that can relay TLS data connections:
			// the server refuses to start with any other.
			infos, err := listEngines()
			if err != nil {
				return nil, err
			}
			var tlsData []string
			for _, e := range infos {
				if e.TLSData {
					tlsData = append(tlsData, e.Name)
				}
			}
			n := len(p.cases)
			for _, e := range p.Engines {
				if slices.Contains(tlsData, e) {
					p.cases = append(p.cases, caseSpec{topology: t, engine: e})
				}
			}
			if len(p.cases) > n {
				continue
			}
			why := fmt.Sprintf("none of the engines %s can relay TLS data connections (ferry engines lists tls-data for: %s)",
				strings.Join(p.Engines, ", "), strings.Join(tlsData, ", "))
			if len(cfg.Topologies) > 0 {
				return nil, fmt.Errorf("bench: topology %s: %s", t, why)
			}
			fmt.Fprintf(p.Progress, "bench: %s; the %s preset runs without %s\n", why, p.preset.Name, t)
		case HAProxy, Nginx:
			// An external case runs where the relay can run it: it is
			// installed and accepts the case's configuration. One that
			// cannot is reported as not available, with why, whether the
			// preset or the caller named it: a machine without it is not
			// a failed run.
			if err := externals[t].availability(p.StartTimeout); err != nil {
				p.unavailable = append(p.unavailable, results.Unavailable{Case: t, Why: err.Error()})
				fmt.Fprintf(p.Progress, "bench: %s not available: %v; the run goes on without it\n", t, err)
				continue
			}
			p.cases = append(p.cases, caseSpec{topology: t})
		default:
			return nil, fmt.Errorf("bench: unknown topology %q: want %s", t, topologyNames)
		}
	}
	if len(p.cases) == 0 {
		var why []string
		for _, u := range p.unavailable {
			why = append(why, u.Case+": "+u.Why)
		}
		return nil, fmt.Errorf("bench: no case can run here: %s", strings.Join(why, "; "))
	}
	return p, nil
}

// Run measures the matrix cfg asks for and returns every run and the summary
// over repeats. Runs are interleaved so that drift on the machine hits every
// case alike: each repeat runs each workload against every case in turn,
// starting one case later each repeat. A failed run is recorded with its
// error and left out of the summary; the returned error joins them all, and
// results come back whenever anything ran.
func Run(ctx context.Context, cfg Config) (*results.Results, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &results.Results{
		Provenance: CollectProvenance(p.Ferry),
		Matrix: results.Matrix{
			Preset:    p.presetLabel(),
			Workloads: p.Workloads,
			Repeats:   p.Repeats,
			Pin:       p.pinString(),
			Settings: []string{
				"duration=" + p.Duration.String(),
				"warmup=" + p.Warmup.String(),
				fmt.Sprintf("idle_conns=%d", p.IdleConns),
				fmt.Sprintf("rr_size=%d", rrSize),
				fmt.Sprintf("http_conns=%d", httpConns),
				fmt.Sprintf("churn_conns=%d", churnConns),
				fmt.Sprintf("churn_size=%d", rrSize),
			},
		},
		Metrics: results.Catalogue,
	}
	for _, c := range p.cases {
		res.Matrix.Cases = append(res.Matrix.Cases, c.name())
	}
	res.Matrix.Unavailable = p.unavailable

	if p.pinned() {
		if err := pinProcess(os.Getpid(), *p.PinLoad); err != nil {
			return nil, fmt.Errorf("bench: pinning the harness to CPU %d: %w", *p.PinLoad, err)
		}
	}
	total := p.Repeats * len(p.Workloads) * len(p.cases)
	done := 0
	var errs []error
	// capacity is the lowest closed-loop rr-c64 rate each case has shown so
	// far in this bench run, which the open-loop workloads take fractions
	// of. The lowest, not the latest: on a shared two-core machine one
	// repeat's rr-c64 can run 20% above the next, and 90% of a lucky
	// figure is more than the case sustains, so the open loop measures a
	// growing backlog (results/20261123-235937-vm: 27.8k and 28.3k
	// requests/s against 23.1k and 20.8k a repeat earlier; 17% and 40% of
	// the requests then went unanswered).
	capacity := map[string]float64{}
	for rep := 1; rep <= p.Repeats; rep++ {
		for _, w := range p.Workloads {
			for i := range p.cases {
				c := p.cases[(i+rep-1)%len(p.cases)]
				if err := ctx.Err(); err != nil {
					res.Provenance.Elapsed = time.Since(start)
					res.Summarize()
					return res, errors.Join(append(errs, err)...)
				}
				done++
				run := p.runOne(ctx, c, w, rep, capacity)
				res.Runs = append(res.Runs, run)
				if rate := run.Metrics[results.MetricRPS]; w == "rr-c64" && run.OK {
					if prev, ok := capacity[c.name()]; !ok || rate < prev {
						capacity[c.name()] = rate
					}
				}
				if !run.OK {
					errs = append(errs, fmt.Errorf("%s %s repeat %d: %s", w, c.name(), rep, run.Error))
				}
				p.progress(done, total, start, run)
			}
		}
	}
	res.Provenance.Elapsed = time.Since(start)
	res.Summarize()
	return res, errors.Join(errs...)
}

// presetLabel is the preset's name, marked "+custom" when flags changed
// its matrix or settings, so a table never claims a preset it did not run.
func (p *plan) presetLabel() string {
	c := p.Config
	if len(c.Workloads) > 0 && !slices.Equal(c.Workloads, p.preset.Workloads) ||
		len(c.Topologies) > 0 && !slices.Equal(c.Topologies, p.preset.Topologies) ||
		c.Repeats != p.preset.Repeats || c.Duration != p.preset.Duration ||
		c.Warmup != p.preset.Warmup || c.IdleConns != p.preset.IdleConns {
		return p.preset.Name + "+custom"
	}
	return p.preset.Name
}

func (p *plan) pinned() bool { return p.PinRelay != nil && p.PinLoad != nil }

func (p *plan) pinString() string {
	if !p.pinned() {
		return "none"
	}
	return fmt.Sprintf("relay=%d,load=%d", *p.PinRelay, *p.PinLoad)
}

// progress prints one line per run: where the run is, what it measured.
func (p *plan) progress(done, total int, start time.Time, run results.Run) {
	elapsed := time.Since(start)
	left := time.Duration(float64(elapsed) / float64(done) * float64(total-done))
	what := "FAILED: " + run.Error
	if run.OK {
		what = headline(run)
	}
	fmt.Fprintf(p.Progress, "[%d/%d %s, ~%s left] repeat %d %-11s %-20s %s\n",
		done, total, elapsed.Round(time.Second), left.Round(time.Second), run.Repeat, run.Workload, run.Case, what)
}

// An EngineInfo is one line of `ferry engines`: an engine of the binary and
// what it is.
type EngineInfo struct {
	Name string
	// Default is set for the engine ferry uses when none is named.
	Default bool
	// TLSData is set when the engine can relay TLS data connections
	// (`ferry server --tls-data`); the reactors, which move bytes between
	// raw sockets, cannot.
	TLSData bool
}

// Engines returns the names of the engines the ferry binary at path has, in
// the order `ferry engines` lists them.
func Engines(ferry string) ([]string, error) {
	infos, err := ListEngines(ferry)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, e := range infos {
		names[i] = e.Name
	}
	return names, nil
}

// ListEngines returns the engines the ferry binary at path has, from `ferry
// engines`.
func ListEngines(ferry string) ([]EngineInfo, error) {
	out, err := exec.Command(ferry, "engines").Output()
	if err != nil {
		return nil, fmt.Errorf("bench: %s engines: %w", ferry, err)
	}
	infos := parseEngines(string(out))
	if len(infos) == 0 {
		return nil, fmt.Errorf("bench: %s engines listed no engine", ferry)
	}
	return infos, nil
}

// parseEngines reads the output of `ferry engines`: a line per engine, its
// name first, then tab-separated words saying what it is ("default",
// "tls-data"; others, such as "unavailable: why", are ignored). Blank lines
// are skipped.
func parseEngines(out string) []EngineInfo {
	var infos []EngineInfo
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		name := strings.Fields(f[0])
		if len(name) == 0 {
			continue
		}
		e := EngineInfo{Name: name[0]}
		for _, w := range f[1:] {
			switch strings.TrimSpace(w) {
			case "default":
				e.Default = true
			case "tls-data":
				e.TLSData = true
			}
		}
		infos = append(infos, e)
	}
	return infos
}
