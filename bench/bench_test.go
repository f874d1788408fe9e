package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
	"github.com/ferry-tunnel/ferry/relay"

	// The binary the test builds has every engine; so does the test, to
	// check that each one got its runs.
	_ "github.com/ferry-tunnel/ferry/variants/all"
)

// wantMetrics is what every successful run of a workload must carry, by
// topology: direct has no ferry process, so no CPU or memory.
func wantMetrics(workload, topology string) []string {
	var m []string
	switch {
	case strings.HasPrefix(workload, "bulk"):
		m = []string{results.MetricMBps}
	case strings.HasPrefix(workload, "rr-open"):
		m = []string{results.MetricOffered, results.MetricRPS, results.MetricP50, results.MetricP99, results.MetricMax}
	case strings.HasPrefix(workload, "rr"), strings.HasPrefix(workload, "http"):
		m = []string{results.MetricRPS, results.MetricP50, results.MetricP90, results.MetricP99, results.MetricP999, results.MetricMax}
	case workload == "churn":
		m = []string{results.MetricConnsPerSec, results.MetricP50, results.MetricP99}
	case workload == "idle":
		m = []string{results.MetricIdleConns}
	}
	if topology == Direct {
		return m
	}
	m = append(m, results.MetricServerRSS, results.MetricClientRSS)
	switch {
	case workload == "idle":
		m = append(m, results.MetricIdleBytes)
	case strings.HasPrefix(workload, "bulk"):
		m = append(m, results.MetricCPU, results.MetricCPUUser, results.MetricCPUSys, results.MetricCPUPerGB)
	default:
		m = append(m, results.MetricCPU, results.MetricCPUPer10k)
	}
	return m
}

// TestQuickPreset runs the real harness with the quick preset over every
// engine, as `make bench-quick` does (tunnel over every engine, tunnel-tls
// over those that can relay TLS data connections): every run must succeed
// (bytes checked, every echo and response verified, processes stopped
// cleanly) and carry every metric its workload promises, and the report
// must cover every case and the cost of TLS. It asserts completeness and
// sanity, never speed.
func TestQuickPreset(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs it as processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("CPU and memory figures need Linux /proc")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/ferry-tunnel/ferry/cmd/ferry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress strings.Builder
	r, err := Run(ctx, Config{Ferry: bin, Preset: "quick", Progress: &progress})
	t.Log("\n" + progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Matrix.Preset != "quick" {
		t.Errorf("preset recorded as %q, want quick", r.Matrix.Preset)
	}
	wantCases := []string{Direct}
	for _, e := range relay.Engines() {
		wantCases = append(wantCases, Tunnel+"/"+e)
	}
	tlsEngines := streamRelayers(t)
	if len(tlsEngines) == 0 {
		t.Fatal("no registered engine can relay TLS data connections: tunnel-tls has nothing to run")
	}
	for _, e := range tlsEngines {
		wantCases = append(wantCases, TunnelTLS+"/"+e)
	}
	slices.Sort(wantCases)
	gotCases := slices.Clone(r.Matrix.Cases)
	slices.Sort(gotCases)
	if !slices.Equal(gotCases, wantCases) {
		t.Errorf("cases %v, want %v", r.Matrix.Cases, wantCases)
	}
	if want := len(wantCases) * len(Presets["quick"].Workloads); len(r.Runs) != want {
		t.Errorf("%d runs, want %d", len(r.Runs), want)
	}
	for _, run := range r.Runs {
		if !run.OK {
			t.Errorf("%s %s: %s", run.Workload, run.Case, run.Error)
			continue
		}
		for _, name := range wantMetrics(run.Workload, run.Topology) {
			v, ok := run.Metrics[name]
			if !ok || v < 0 || (v == 0 && name != results.MetricCPUSys && name != results.MetricCPUUser && name != results.MetricCPU) {
				t.Errorf("%s %s: metric %s = %v (present %v), want a positive figure", run.Workload, run.Case, name, v, ok)
			}
		}
		if run.Topology == Tunnel || run.Topology == TunnelTLS {
			// Both processes stopped cleanly and reported the engine's
			// counters: the path is on record.
			for _, proc := range []string{"server", "client"} {
				if c := run.Counters[proc]; c["engine."+relay.CounterPairsStarted] == 0 && run.Workload != "idle" {
					t.Errorf("%s %s: %s counted no relayed pair: %v", run.Workload, run.Case, proc, c)
				}
			}
		}
		if run.Topology == TunnelTLS {
			// The record says how: TLS data connections, the server
			// pinned by fingerprint.
			cmds := strings.Join(run.Commands, "\n")
			for _, flag := range []string{"--tls-data", "--server-fingerprint"} {
				if !strings.Contains(cmds, flag) {
					t.Errorf("%s %s: no %s in the recorded commands:\n%s", run.Workload, run.Case, flag, cmds)
				}
			}
		}
	}
	var table strings.Builder
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())
	for _, c := range wantCases {
		if !strings.Contains(table.String(), c) {
			t.Errorf("table has no row for %s", c)
		}
	}
	// Every run succeeded with every metric, so the cost of TLS has a
	// figure everywhere.
	_, cost, ok := strings.Cut(table.String(), "cost of TLS data connections")
	if !ok {
		t.Fatal("table has no cost of TLS data connections")
	}
	for _, e := range tlsEngines {
		if !strings.Contains(cost, e) {
			t.Errorf("cost of TLS has no line for %s", e)
		}
	}
	if strings.Contains(cost, "n/a") {
		t.Errorf("cost of TLS has a gap where every run succeeded:%s", cost)
	}
}

// streamRelayers returns the registered engines that can relay TLS data
// connections, found from the engines themselves rather than from `ferry
// engines`, which the harness reads.
func streamRelayers(t *testing.T) []string {
	var names []string
	for _, name := range relay.Engines() {
		e, err := relay.NewEngine(name, relay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.(relay.StreamRelayer); ok {
			names = append(names, name)
		}
		e.Close()
	}
	return names
}

func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU accounting reads Linux /proc")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	d, err := processCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if d.total() < 0 || d.total() > 5*time.Second {
		t.Errorf("a sleeping process used %v of CPU", d)
	}
	m, err := processMem(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.rss == 0 || m.peak < m.rss {
		t.Errorf("sleep(1): VmRSS %d KiB, VmHWM %d KiB: want RSS above 0 and the peak at least RSS", m.rss, m.peak)
	}
}

// TestExternalAndForward runs the one-hop cases briefly: ferry forward with
// one engine, and HAProxy and nginx where they can run the case. One that is
// not installed, or refuses the case's configuration (nginx without its
// stream module), is skipped with the reason, never failed.
func TestExternalAndForward(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs it as processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("CPU and memory figures need Linux /proc")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/ferry-tunnel/ferry/cmd/ferry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, topology := range []string{Forward, HAProxy, Nginx} {
		t.Run(topology, func(t *testing.T) {
			if x, ok := externals[topology]; ok {
				if err := x.availability(time.Minute); err != nil {
					t.Skipf("%s not available: %v", topology, err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var progress strings.Builder
			r, err := Run(ctx, Config{Ferry: bin, Preset: "quick", Engines: []string{relay.DefaultEngine},
				Topologies: []string{topology}, Workloads: []string{"bulk-1", "rr-c1"}, Progress: &progress})
			t.Log("\n" + progress.String())
			if err != nil {
				t.Fatal(err)
			}
			if r.Matrix.Preset != "quick+custom" {
				t.Errorf("a narrowed quick preset recorded as %q, want quick+custom", r.Matrix.Preset)
			}
			if len(r.Runs) != 2 {
				t.Fatalf("%d runs, want 2", len(r.Runs))
			}
			for _, run := range r.Runs {
				for _, name := range []string{results.MetricCPU, results.MetricServerRSS} {
					if _, ok := run.Metrics[name]; !ok {
						t.Errorf("%s %s: no %s", run.Workload, run.Case, name)
					}
				}
			}
		})
	}
}

// TestKillEndsForkedChildren pins that killing a relay also ends the
// processes it forked: nginx's workers inherit its stderr, and a kill that
// left them running would keep the log reader, and the harness, waiting.
func TestKillEndsForkedChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups as the harness uses them are Linux-only here")
	}
	p, err := startFerry("sh", "worker", nil, "-c", "sleep 300 & sleep 300")
	if err != nil {
		t.Skip("no sh:", err)
	}
	killed := make(chan struct{})
	go func() {
		p.kill()
		close(killed)
	}()
	select {
	case <-killed:
	case <-time.After(time.Minute):
		t.Fatal("kill did not return: a forked child kept the process's stderr open")
	}
}
