//go:build !linux

package bench

import (
	"errors"
	"os/exec"
	"time"
)

// setPdeathsig does nothing: only Linux can tie a child's life to its
// parent's. The harness still kills its processes on every path it controls.
func setPdeathsig(*exec.Cmd) {}

// processCPU needs Linux's /proc: the harness reports CPU per gigabyte, and
// elsewhere it cannot.
func processCPU(int) (time.Duration, error) {
	return 0, errors.New("bench: per-process CPU time needs Linux /proc")
}
