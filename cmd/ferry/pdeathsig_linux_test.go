package main

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill cmd if the test process dies first (a
// test timeout panics without running cleanups), so no ferry outlives it.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
