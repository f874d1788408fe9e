// Package results is the schema of a bench run's results.json and what is
// computed from it alone: the medians and spread over repeats, lookups by
// case and workload, and the catalogue of metrics with their units and which
// way each improves. The harness (package bench) writes a Results; charts,
// tables and the committed README are made from one, so every published
// figure can be regenerated from the file beside it.
//
//	r, err := results.ReadResults("results/20261123-host/results.json")
//	if err != nil { ... }
//	s, ok := r.Lookup("tunnel/gocopy", "bulk-1")
//	if ok { fmt.Println(s.Metrics[results.MetricMBps].Median) }
package results
