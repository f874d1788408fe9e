package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-tunnel/ferry/bench"
	"github.com/ferry-tunnel/ferry/bench/chart"
	"github.com/ferry-tunnel/ferry/bench/results"
	"github.com/ferry-tunnel/ferry/internal/flamegraph"
	"github.com/google/pprof/profile"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cfg                            bench.Config
		engines, workloads, topologies string
		out, charts, flames            string
		quiet                          bool
	)
	fs := flag.NewFlagSet("ferry-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.Ferry, "ferry", "bin/ferry", "`path` of the ferry binary to measure")
	fs.StringVar(&cfg.Preset, "preset", "default", "the matrix: default, quick or full (docs/methodology.md)")
	fs.StringVar(&engines, "engines", "", "comma-separated `names` of engines to measure (default all the binary has)")
	fs.StringVar(&workloads, "workloads", "", "comma-separated `names` of workloads to run (default the preset's)")
	fs.StringVar(&topologies, "topologies", "", "comma-separated topologies: direct, tunnel, tunnel-tls, forward, haproxy, nginx (default the preset's)")
	fs.IntVar(&cfg.Repeats, "repeats", 0, "repeats of the whole matrix (default the preset's)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured period of each run (default the preset's)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "unmeasured warm-up before each request workload (default the preset's)")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 0, "connections the idle workload holds (default the preset's)")
	fs.StringVar(&out, "out", "", "write results.json, README.md and charts to a new directory `dir`/DATE-HOST")
	fs.StringVar(&charts, "charts", "", "only regenerate README.md and the charts of the results `dir` from its results.json")
	fs.Func("pin", "pin relays and load to CPUs, as `relay=N,load=M` (default none: the scheduler's choice)", func(v string) error {
		var relay, load int
		if _, err := fmt.Sscanf(v, "relay=%d,load=%d", &relay, &load); err != nil || relay < 0 || load < 0 {
			return fmt.Errorf("want relay=N,load=M with CPU numbers")
		}
		cfg.PinRelay, cfg.PinLoad = &relay, &load
		return nil
	})
	fs.StringVar(&cfg.ProfileDir, "profile", "", "profiling run: every ferry process writes CPU and heap profiles to `dir` (figures not for publishing)")
	fs.StringVar(&flames, "flamegraphs", "", "only draw every profile in `dir`/profiles as an SVG flame graph in dir")
	fs.BoolVar(&quiet, "q", false, "quiet: no progress lines")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ferry-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if charts != "" {
		r, err := results.ReadResults(filepath.Join(charts, "results.json"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		if err := writeDir(charts, r); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		return 0
	}
	if flames != "" {
		if err := drawFlamegraphs(flames); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		return 0
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
	}
	cfg.Engines = list(engines)
	cfg.Workloads = list(workloads)
	cfg.Topologies = list(topologies)
	if _, err := os.Stat(cfg.Ferry); err != nil {
		fmt.Fprintf(os.Stderr, "ferry-bench: %v (build it with make build)\n", err)
		return 2
	}
	cfg.Progress = os.Stderr
	if quiet {
		cfg.Progress = io.Discard
	}

	// Ctrl-C ends the run; every ferry process is killed on the way out,
	// and what ran so far is still reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, runErr := bench.Run(ctx, cfg)
	if r == nil {
		fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", runErr)
		return 2
	}
	var table bytes.Buffer
	bench.WriteTable(&table, r)
	os.Stdout.Write(table.Bytes())
	if out != "" && len(r.Runs) > 0 {
		dir := filepath.Join(out, r.Provenance.Date.Format("20060102-150405")+"-"+r.Provenance.Host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		if err := r.WriteJSON(filepath.Join(dir, "results.json")); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		if err := writeDir(dir, r); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "ferry-bench: results in %s (%s)\n", dir, r.Provenance.Elapsed.Round(time.Second))
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			fmt.Fprintf(os.Stderr, "ferry-bench: interrupted\n")
		}
		fmt.Fprintf(os.Stderr, "ferry-bench: FAILED:\n%v\n", runErr)
		return 1
	}
	return 0
}

// writeDir writes the charts and README.md of r into dir.
func writeDir(dir string, r *results.Results) error {
	names, err := chart.Write(dir, r)
	if err != nil {
		return err
	}
	var readme bytes.Buffer
	if err := bench.WriteREADME(&readme, r, names); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), readme.Bytes(), 0o644)
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// drawFlamegraphs renders every dir/profiles/NAME.pb.gz as dir/NAME.svg: CPU
// profiles by CPU time, heap profiles by bytes allocated.
func drawFlamegraphs(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "profiles", "*.pb.gz"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no profiles in %s (make them with -profile %s)", filepath.Join(dir, "profiles"), filepath.Join(dir, "profiles"))
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".pb.gz")
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		opts := flamegraph.Options{Title: name}
		if strings.HasSuffix(name, "-mem") {
			opts.SampleType = "alloc_space"
		}
		var svg bytes.Buffer
		if err := flamegraph.Render(&svg, p, opts); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "ferry-bench: %d flame graphs in %s\n", len(paths), dir)
	return nil
}
