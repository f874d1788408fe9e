// Command ferry-bench runs the bench harness (package bench): every engine
// through real ferry processes, beside the no-relay ceiling, with every byte
// checked. It prints a table per workload and, with -out DIR, writes
// results.json, README.md and SVG charts to a new DIR/DATE-HOST. It runs the
// ferry binary it is given; it builds nothing.
//
//	go build -o bin/ferry ./cmd/ferry
//	go run ./cmd/ferry-bench -ferry bin/ferry -preset quick -out /tmp/bench
//	go run ./cmd/ferry-bench -charts results/DATE-HOST   # redraw from results.json
//
// `make bench`, `make bench-quick` and `make bench-full` run the presets.
// The exit status is 0 when every run succeeded, 1 when any failed (each
// reason on stderr; the results of the others are still written), 2 for a
// bad command line.
package main
