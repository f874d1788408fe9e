// Command ferry-bench measures every relay engine through real ferry
// processes and prints a table: throughput, and CPU seconds per GB for the
// server, the client and both. It runs the ferry binary it is given; it
// builds nothing.
//
//	go build -o bin/ferry ./cmd/ferry
//	go run ./cmd/ferry-bench --ferry bin/ferry --duration 3s --out results
//
// `make bench` does the same. With --out, the full report (provenance,
// commands, counters) is also written to a new file in that directory. The
// exit status is 0 when every engine ran and delivered every byte intact,
// 1 otherwise, with the reason on stderr; 2 for a bad command line.
package main
