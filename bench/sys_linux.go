package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setPdeathsig has the kernel kill cmd when the harness dies, even by
// SIGKILL, so no ferry process outlives a run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel fixes
// it at 100 for user space on every architecture (USER_HZ), whatever its
// internal tick rate.
const userHZ = 100

// processCPU returns the CPU time, user plus system, that every thread of
// process pid has used so far, to a resolution of 10 ms.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The second field, the command name in parentheses, may contain spaces
	// and parentheses; the fields after its last ')' are plain numbers,
	// starting with field 3 (state). utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command, want at least 13", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime %q or stime %q", pid, f[14-3], f[15-3])
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}
