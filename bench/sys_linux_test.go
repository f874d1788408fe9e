package bench

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPinProcess(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for i := range 1024 {
		if all.IsSet(i) {
			cpu = i // the last CPU this process may use
		}
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if err := pinProcess(cmd.Process.Pid, cpu); err != nil {
		t.Fatal(err)
	}
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &got); err != nil {
		t.Fatal(err)
	}
	if got.Count() != 1 || !got.IsSet(cpu) {
		t.Errorf("after pinning to CPU %d, the affinity has %d CPUs (CPU %d set: %v)", cpu, got.Count(), cpu, got.IsSet(cpu))
	}
}
