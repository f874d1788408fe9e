package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-tunnel/ferry/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cfg     bench.Config
		engines string
		out     string
	)
	fs := flag.NewFlagSet("ferry-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.Ferry, "ferry", "bin/ferry", "`path` of the ferry binary to measure")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "how long each engine's bulk stream writes")
	fs.StringVar(&engines, "engines", "", "comma-separated `names` of engines to measure (default all)")
	fs.StringVar(&out, "out", "", "also write the full report to a new file in `dir`")
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
	if engines != "" {
		cfg.Engines = strings.Split(engines, ",")
	}
	if _, err := os.Stat(cfg.Ferry); err != nil {
		fmt.Fprintf(os.Stderr, "ferry-bench: %v (build it with make build)\n", err)
		return 2
	}
	cfg.Progress = os.Stderr

	// Ctrl-C ends the run; every ferry process is killed on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	prov := bench.CollectProvenance(cfg)
	rows, runErr := bench.Run(ctx, cfg)

	var report bytes.Buffer
	bench.WriteReport(&report, prov, rows)
	os.Stdout.Write(report.Bytes())
	if out != "" && len(rows) > 0 {
		name := filepath.Join(out, "bench-"+prov.Date.Format("20060102-150405")+".txt")
		if err := os.WriteFile(name, report.Bytes(), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "ferry-bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "ferry-bench: report written to %s\n", name)
	}
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "ferry-bench: FAILED: %v\n", runErr)
		return 1
	}
	return 0
}
