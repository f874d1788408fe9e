package flamegraph_test

import (
	"bytes"
	"fmt"
	"log"
	"regexp"

	"github.com/google/pprof/profile"

	"github.com/ferry-tunnel/ferry/internal/flamegraph"
)

// A profile would normally come from profile.Parse on a .pb.gz file written
// by runtime/pprof; this one is built by hand: 30 ms in io.Copy under the
// gocopy engine, 10 ms of it in the read system call, and 10 ms in the GC.
func ExampleRender() {
	fn := func(id uint64, name string) *profile.Function {
		return &profile.Function{ID: id, Name: name}
	}
	loc := func(id uint64, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Line: []profile.Line{{Function: f}}}
	}
	f := []*profile.Function{
		fn(1, "github.com/ferry-tunnel/ferry/variants/gocopy.(*engine).pump"),
		fn(2, "io.Copy"),
		fn(3, "syscall.read"),
		fn(4, "runtime.gcBgMarkWorker"),
	}
	l := []*profile.Location{loc(1, f[0]), loc(2, f[1]), loc(3, f[2]), loc(4, f[3])}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   f,
		Location:   l,
		Sample: []*profile.Sample{ // Location is leaf first
			{Location: []*profile.Location{l[1], l[0]}, Value: []int64{2, 20e6}},
			{Location: []*profile.Location{l[2], l[1], l[0]}, Value: []int64{1, 10e6}},
			{Location: []*profile.Location{l[3]}, Value: []int64{1, 10e6}},
		},
	}

	var svg bytes.Buffer
	if err := flamegraph.Render(&svg, p, flamegraph.Options{Title: "engine=gocopy"}); err != nil {
		log.Fatal(err)
	}
	// Print the tooltip of every frame in drawing order: depth first, siblings
	// by name.
	for _, m := range regexp.MustCompile(`<title>(.*?)</title>`).FindAllSubmatch(svg.Bytes(), -1) {
		fmt.Println(string(m[1]))
	}
	// Output:
	// all (40.00 ms, 100.00%)
	// github.com/ferry-tunnel/ferry/variants/gocopy.(*engine).pump (30.00 ms, 75.00%)
	// io.Copy (30.00 ms, 75.00%)
	// syscall.read (10.00 ms, 25.00%)
	// runtime.gcBgMarkWorker (10.00 ms, 25.00%)
}
