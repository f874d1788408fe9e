// Package flamegraph renders a pprof profile as a self-contained SVG flame
// graph, so that CPU and heap profiles of ferry's engines can be committed
// next to benchmark results and read on a code-hosting page. pprof draws
// flame graphs only in its interactive web UI (pprof -http), and its -svg
// output is a Graphviz call graph, which needs Graphviz to produce and reads
// poorly for deep stacks. The SVG written here needs no script: every frame
// carries its function name as a label and a <title> tooltip with its value
// and share, stacks grow upwards from the root at the bottom, siblings are
// sorted by name, and colours follow the package family (ferry, runtime,
// syscall, net), so the same profile always renders to the same bytes.
//
// Usage, for a profile written by runtime/pprof or go test -cpuprofile:
//
//	f, err := os.Open("cpu.pb.gz")
//	if err != nil { ... }
//	defer f.Close()
//	p, err := profile.Parse(f)
//	if err != nil { ... }
//	var svg bytes.Buffer
//	err = flamegraph.Render(&svg, p, flamegraph.Options{Title: "ferry server, engine=gocopy"})
//	if err != nil { ... }
//	err = os.WriteFile("cpu.svg", svg.Bytes(), 0o644)
//
// Options.SampleType picks the value to draw, e.g. "alloc_space" of a heap
// profile; the zero value draws the profile's default.
package flamegraph
