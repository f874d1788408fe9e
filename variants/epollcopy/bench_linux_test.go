package epollcopy_test

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/variants/epollcopy"
	"github.com/ferry-tunnel/ferry/variants/epollsplice"
	"github.com/ferry-tunnel/ferry/variants/gocopy"
	"github.com/ferry-tunnel/ferry/variants/gocopybuf"
)

// The benchmarks in variants/all drive both ends of a pair from goroutines of
// the benchmark's own process. With a goroutine engine the Go scheduler can
// then run a whole round trip on one thread (the write of one goroutine makes
// the next one's socket ready, and the same thread picks it up from the
// netpoller), which a tunnel never sees: its peers are other processes. These
// benchmarks keep the two far ends in a child process instead, so every hop
// wakes a thread, as it does between real peers, and compare the engines
// there. Names as in variants/all, so benchstat reads both; cpu-ns/op is the
// CPU this process (the engine) spent per op, the child's not included.
//
//	go test -run '^$' -bench Child -count 5 ./variants/epollcopy

var childEngines = []string{gocopy.Name, gocopybuf.Name, epollcopy.Name, epollsplice.Name}

// benchChild runs f as engine=NAME/size=SIZE for each engine and size, each
// with a new engine relaying one pair whose ends the child holds.
func benchChild(b *testing.B, sizes []int, f func(b *testing.B, child *childProc, size int)) {
	child := startChild(b)
	for _, name := range childEngines {
		b.Run("engine="+name, func(b *testing.B) {
			for _, size := range sizes {
				b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
					e, err := relay.NewEngine(name, relay.Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close()
					relayChildPairs(b, child, e, listen(b), listen(b), 1)
					b.ReportAllocs()
					cpu0 := cpuTime(b)
					b.ResetTimer()
					f(b, child, size)
					b.StopTimer()
					// This process's CPU is the engine's (the benchmark
					// itself only waits for the child's answer).
					b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
					child.send(b, "close")
					child.expect(b, "closed")
				})
			}
		})
	}
}

// BenchmarkPingPongChild bounces size bytes C1 → C2 → C1 through one pair,
// the child holding C1 and C2: each op is one round trip, two hops through
// the engine each way.
func BenchmarkPingPongChild(b *testing.B) {
	benchChild(b, []int{64, 1 << 10, 4 << 10, 16 << 10, 64 << 10}, func(b *testing.B, child *childProc, size int) {
		child.send(b, "pingpong %d %d", b.N, size)
		child.expect(b, "done")
	})
}

// BenchmarkBulkChild streams one way through one pair, the child writing C1
// and reading C2: each op moves size bytes.
func BenchmarkBulkChild(b *testing.B) {
	benchChild(b, []int{4 << 10, 64 << 10, 1 << 20}, func(b *testing.B, child *childProc, size int) {
		b.SetBytes(int64(size))
		child.send(b, "bulk %d %d", b.N, size)
		child.expect(b, "done")
	})
}

// cpuTime is the user and system CPU this process has used, in ns.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
