//go:build !linux

package bench

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// setProcAttr does nothing: only Linux can tie a child's life to its
// parent's. The harness still kills its processes on every path it controls.
func setProcAttr(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }

type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) sub(d cpuTimes) cpuTimes { return cpuTimes{c.user - d.user, c.sys - d.sys} }
func (c cpuTimes) total() time.Duration    { return c.user + c.sys }

type memKiB struct{ rss, peak uint64 }

var errNoProc = errors.New("bench: per-process CPU and memory need Linux /proc")

// processCPU needs Linux's /proc: the harness reports CPU per gigabyte, and
// elsewhere it cannot.
func processCPU(int) (cpuTimes, error) { return cpuTimes{}, errNoProc }

func processMem(int) (memKiB, error) { return memKiB{}, errNoProc }

// listening cannot look without /proc: it says yes, and the first dial
// finds out.
func listening(int) bool { return true }

func pinProcess(int, int) error { return errors.New("bench: CPU pinning needs Linux") }

// haproxyStop: without /proc the harness cannot measure HAProxy anyway.
var haproxyStop = os.Interrupt

var nginxStop = os.Interrupt

func treeCPU(pid int) (cpuTimes, error) { return processCPU(pid) }

func treeMem(pid int) (memKiB, error) { return processMem(pid) }
