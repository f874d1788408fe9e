// Package bench measures relay engines end to end, through real ferry
// processes, beside the ceiling of no relay at all: the harness behind `make
// bench`. A preset names the matrix (topologies × workloads × repeats); Run
// interleaves the runs so that drift hits every case alike, starts a fresh
// backend and fresh ferry processes for each run, drives a loadgen workload
// through them, checks every byte, and records throughput, latency
// percentiles, CPU of the ferry processes (user and system, from
// /proc/PID/stat around the measured period), peak memory, and the counters
// the processes log as they stop. Package results holds the schema and the
// statistics over repeats; package chart draws results.json as SVG.
//
// cmd/ferry-bench is the command line:
//
//	r, err := bench.Run(ctx, bench.Config{Ferry: "bin/ferry", Preset: "quick"})
//	if r != nil {
//		bench.WriteTable(os.Stdout, r)
//		r.WriteJSON("results.json")
//	}
//	if err != nil { ... } // every failed run, with its reason
//
// Process accounting needs Linux's /proc; elsewhere runs fail with a clear
// error.
package bench
