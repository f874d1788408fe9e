package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func TestProfileEnv(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pb.gz"), filepath.Join(dir, "mem.pb.gz")
	t.Setenv(cpuProfileEnv, cpu)
	t.Setenv(memProfileEnv, mem)
	if code, _, stderr := runFerry(t, "engines"); code != exitOK {
		t.Fatalf("ferry engines with profiling exited %d: %s", code, stderr)
	}
	for path, want := range map[string]string{cpu: "cpu", mem: "alloc_space"} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var types []string
		for _, st := range p.SampleType {
			types = append(types, st.Type)
		}
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Errorf("%s has sample types %v, want %s among them", path, types, want)
		}
	}

	// A profile that cannot be written is a usage error, before anything
	// runs.
	t.Setenv(cpuProfileEnv, filepath.Join(dir, "no-such-dir", "cpu.pb.gz"))
	code, _, stderr := runFerry(t, "engines")
	if code != exitUsage || !strings.Contains(stderr, cpuProfileEnv) {
		t.Errorf("unwritable %s: exit %d, stderr %q; want %d naming the variable", cpuProfileEnv, code, stderr, exitUsage)
	}
}
