// Package chart draws the SVG charts committed beside a bench run's
// results.json: throughput, CPU per GB and per request, latency closed and
// open loop, request rates relative to direct, and memory per idle
// connection. Charts are always regenerated from results.json, never drawn
// or touched up by hand, so every committed figure can be traced to the
// numbers and provenance beside it; each chart's footnote repeats that
// provenance (commit, date, host, CPU, kernel).
//
// The output is plain SVG 1.1 with no script, stylesheet or external font,
// on a white background, so that a code-hosting page shows it as an image
// in light and dark themes alike. Bars are medians over the repeats, with
// min–max whiskers; a case whose repeats all failed is a gap labelled
// "failed", never a bar left out. The same Results always gives the same
// bytes, so regenerating a chart changes it only when the data changed.
//
//	r, err := results.ReadResults("results/20261123-host/results.json")
//	if err != nil { ... }
//	names, err := chart.Write("results/20261123-host", r)
//	// names: "throughput.svg", "cpu.svg", ... for the workloads r has
//
// Bars and Figure are the renderer underneath, for a chart Write does not
// make.
package chart
