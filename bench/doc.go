// Package bench measures each relay engine end to end, through real ferry
// processes: for every engine the binary has (`ferry engines`) it starts a loadgen Sink as the
// local service, runs `ferry server` and `ferry client` with --engine set to
// that engine, pushes one bulk stream through the tunnel, checks that the
// Sink received exactly the bytes sent, and reports throughput and the CPU
// time each ferry process spent per gigabyte moved.
//
// The processes are the binary a user runs, not in-process copies, so the
// numbers include everything the real path does. CPU time comes from
// /proc/PID/stat (utime+stime, all threads) sampled just before and after the
// stream, so start-up, registration and shutdown are left out.
//
// cmd/ferry-bench is the command line; `make bench` builds ferry and runs it:
//
//	rows, err := bench.Run(ctx, bench.Config{Ferry: "bin/ferry", Duration: 3 * time.Second})
//	bench.WriteTable(os.Stdout, rows)
//	if err != nil { ... } // a run failed: the error says which and why
//
// This is the day-one harness: one stream, one topology (everything on
// loopback). It exists so that every engine gets a real number from the first
// day; the full harness replaces it.
package bench
