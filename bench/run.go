package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// runOne measures workload w against case c once: a fresh backend, fresh
// ferry processes, the workload, CPU and memory around its measured window,
// and a clean stop that yields the processes' counters. Every process and
// backend it starts is gone when it returns.
func (p *plan) runOne(ctx context.Context, c caseSpec, w string, rep int, capacity map[string]float64) results.Run {
	run := results.Run{
		Case: c.name(), Topology: c.topology, Engine: c.engine, Workload: w, Repeat: rep,
		Metrics: map[string]float64{},
	}
	fail := func(err error) results.Run {
		run.OK = false
		run.Error = err.Error()
		return run
	}
	wl := workloads[w]
	be, err := wl.backend()
	if err != nil {
		return fail(fmt.Errorf("backend: %w", err))
	}
	defer be.Close()
	s, err := p.start(ctx, c, be.Addr().String(), func(proc string) []string {
		if p.ProfileDir == "" {
			return nil
		}
		// Profiles are named for what they measured:
		// WORKLOAD-TOPOLOGY-ENGINE-PROC-{cpu,mem}.pb.gz.
		base := filepath.Join(p.ProfileDir, strings.Join([]string{w, strings.ReplaceAll(c.name(), "/", "-"), proc}, "-"))
		return []string{"FERRY_CPU_PROFILE=" + base + "-cpu.pb.gz", "FERRY_MEM_PROFILE=" + base + "-mem.pb.gz"}
	})
	if err != nil {
		return fail(err)
	}
	defer s.kill()
	run.Commands = s.commands
	if p.pinned() {
		if err := s.pin(*p.PinRelay); err != nil {
			return fail(err)
		}
	}

	r := &runCtx{addr: s.addr, backend: be, capacity: capacity[c.name()], m: run.Metrics}
	if len(s.procs) > 0 {
		r.memOf = s.mem
	}
	var cpu0, cpu1 []cpuTimes
	r.window = func(open bool) error {
		if open && p.pinned() {
			// Again just before measuring: threads the processes made
			// since they started inherit the mask, but one made while
			// the first pass ran might not have.
			if err := s.pin(*p.PinRelay); err != nil {
				return err
			}
		}
		t, err := s.cpu()
		if open {
			cpu0 = t
		} else {
			cpu1 = t
		}
		return err
	}
	if err := wl.measure(ctx, p, r); err != nil {
		return fail(fmt.Errorf("%w%s", err, s.diedNote()))
	}

	if len(s.procs) > 0 {
		// Peak memory before the stop, which may allocate.
		mem, err := s.mem()
		if err != nil {
			return fail(err)
		}
		counters, err := s.stop(p.StartTimeout)
		run.Counters = counters
		if err != nil {
			return fail(err)
		}
		p.addProcessMetrics(&run, r, cpu0, cpu1, mem)
	}
	run.OK = true
	return run
}

// addProcessMetrics derives the CPU and memory metrics of the ferry
// processes: procs[0] is the server (or forward), procs[1] the client.
func (p *plan) addProcessMetrics(run *results.Run, r *runCtx, cpu0, cpu1 []cpuTimes, mem []memKiB) {
	m := run.Metrics
	if cpu0 != nil && cpu1 != nil {
		var user, sys float64
		for i := range cpu1 {
			d := cpu1[i].sub(cpu0[i])
			user += d.user.Seconds()
			sys += d.sys.Seconds()
			if i == 0 {
				m[results.MetricServerCPU] = d.total().Seconds()
			} else {
				m[results.MetricClientCPU] = d.total().Seconds()
			}
		}
		m[results.MetricCPUUser], m[results.MetricCPUSys], m[results.MetricCPU] = user, sys, user+sys
		switch {
		case r.work <= 0:
		case r.workUnit == "bytes":
			m[results.MetricCPUPerGB] = (user + sys) / (r.work / 1e9)
		default:
			m[results.MetricCPUPer10k] = (user + sys) / (r.work / 1e4)
		}
	}
	m[results.MetricServerRSS] = float64(mem[0].peak)
	if len(mem) > 1 {
		m[results.MetricClientRSS] = float64(mem[1].peak)
	}
	if r.idle != nil && len(r.idle.before) == len(r.idle.after) && m[results.MetricIdleConns] > 0 {
		var grew float64
		for i := range r.idle.after {
			grew += float64(r.idle.after[i].rss) - float64(r.idle.before[i].rss)
		}
		m[results.MetricIdleBytes] = grew * 1024 / m[results.MetricIdleConns]
	}
}

// headline is a run's main figure, for the progress line.
func headline(run results.Run) string {
	m := run.Metrics
	var parts []string
	add := func(name, format string) {
		if v, ok := m[name]; ok {
			parts = append(parts, fmt.Sprintf(format, v))
		}
	}
	add(results.MetricMBps, "%.0f MB/s")
	add(results.MetricRPS, "%.0f req/s")
	add(results.MetricConnsPerSec, "%.0f conn/s")
	add(results.MetricP50, "p50 %.0f µs")
	add(results.MetricP99, "p99 %.0f µs")
	add(results.MetricCPUPerGB, "%.2f CPU-s/GB")
	add(results.MetricCPUPer10k, "%.3f CPU-s/10k")
	add(results.MetricIdleConns, "%.0f held")
	add(results.MetricIdleBytes, "%.0f B/conn")
	return strings.Join(parts, ", ")
}
