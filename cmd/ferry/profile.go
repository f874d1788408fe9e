package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling is switched on by environment variables, not flags: it is for
// the bench harness and for engine research, not for operating a tunnel, and
// it stays out of every subcommand's usage.
const (
	cpuProfileEnv = "FERRY_CPU_PROFILE" // write a CPU profile of the whole run to this file
	memProfileEnv = "FERRY_MEM_PROFILE" // write a heap profile to this file as the process exits
)

// profiled runs f with the profiles the environment asks for: the CPU
// profile covers all of f, the heap profile is taken when f returns (after a
// GC, so it shows what was live). A profile that cannot be written is
// reported on stderr and turns a successful exit into a failure, so a
// harness never mistakes a missing profile for an empty one.
func profiled(stderr io.Writer, f func() int) int {
	cpuPath, memPath := os.Getenv(cpuProfileEnv), os.Getenv(memProfileEnv)
	var cpuFile *os.File
	if cpuPath != "" {
		var err error
		if cpuFile, err = os.Create(cpuPath); err != nil {
			fmt.Fprintf(stderr, "ferry: %s: %v\n", cpuProfileEnv, err)
			return exitUsage
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			fmt.Fprintf(stderr, "ferry: %s: %v\n", cpuProfileEnv, err)
			return exitUsage
		}
	}
	code := f()
	fail := func(env string, err error) {
		fmt.Fprintf(stderr, "ferry: %s: %v\n", env, err)
		if code == exitOK {
			code = exitFatal
		}
	}
	if cpuFile != nil {
		pprof.StopCPUProfile()
		if err := cpuFile.Close(); err != nil {
			fail(cpuProfileEnv, err)
		}
	}
	if memPath != "" {
		runtime.GC()
		if err := writeHeapProfile(memPath); err != nil {
			fail(memProfileEnv, err)
		}
	}
	return code
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
