// Package all registers every engine: importing it for its side effect makes
// each engine under variants/ available to relay.NewEngine by name. cmd/ and
// bench/ import it so one binary can compare them all.
//
//	import _ "github.com/ferry-tunnel/ferry/variants/all"
//
//	for _, name := range relay.Engines() {
//		e, err := relay.NewEngine(name, relay.Options{})
//		...
//	}
//
// Its tests run the conformance suite (package relay/enginetest) against
// every registered engine, and its benchmarks measure each one; a new engine
// is tested and benchmarked by being imported here.
package all
