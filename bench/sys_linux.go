package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setProcAttr has the kernel kill cmd when the harness dies, even by
// SIGKILL, so no relay outlives a run, and puts cmd in a process group of
// its own, so that killGroup also ends any workers it forks (nginx).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup kills the process group cmd leads: the process and whatever it
// forked, whose inherited stderr would otherwise keep the log reader, and
// so the harness, waiting.
func killGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel fixes
// it at 100 for user space on every architecture (USER_HZ), whatever its
// internal tick rate.
const userHZ = 100

// cpuTimes is the CPU a process has used so far, all threads.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) sub(d cpuTimes) cpuTimes { return cpuTimes{c.user - d.user, c.sys - d.sys} }
func (c cpuTimes) total() time.Duration    { return c.user + c.sys }

// processCPU returns the user and system CPU time that every thread of
// process pid has used so far, to a resolution of 10 ms.
func processCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	// The second field, the command name in parentheses, may contain spaces
	// and parentheses; the fields after its last ')' are plain numbers,
	// starting with field 3 (state). utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("/proc/%d/stat: %d fields after the command, want at least 13", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, fmt.Errorf("/proc/%d/stat: bad utime %q or stime %q", pid, f[14-3], f[15-3])
	}
	return cpuTimes{
		user: time.Duration(utime) * time.Second / userHZ,
		sys:  time.Duration(stime) * time.Second / userHZ,
	}, nil
}

// memKiB is a process's resident memory: now (VmRSS) and its peak since it
// started (VmHWM), in KiB.
type memKiB struct{ rss, peak uint64 }

// processMem reads VmRSS and VmHWM from /proc/PID/status.
func processMem(pid int) (memKiB, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memKiB{}, err
	}
	defer f.Close()
	var m memKiB
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memKiB{}, fmt.Errorf("/proc/%d/status: %s: %q", pid, k, v)
		}
		if k == "VmRSS" {
			m.rss = n
		} else {
			m.peak = n
		}
		found++
	}
	if found != 2 {
		return memKiB{}, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return m, sc.Err()
}

// listening says whether a TCP socket listens on 127.0.0.1:port, from
// /proc/net/tcp, without connecting to it.
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st ...; st 0A is LISTEN.
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// pinProcess sets the CPU affinity of every thread of process pid to cpu
// alone. sched_setaffinity acts on one thread; threads made later inherit
// the mask of the thread that makes them, so after this pass every thread
// is pinned but for one created while it ran, which a second pass catches.
func pinProcess(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return os.NewSyscallError("sched_setaffinity", err)
		}
	}
	return nil
}

// haproxyStop is HAProxy's soft stop: it exits 0 once its connections are
// done.
var haproxyStop os.Signal = syscall.SIGUSR1

// nginxStop is nginx's graceful shutdown: workers finish their connections
// and the master exits 0.
var nginxStop os.Signal = syscall.SIGQUIT

// children returns the pids whose parent is pid, from /proc.
func children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// After the command's closing parenthesis: state, then ppid.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[i+1:]); i >= 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// treeCPU is processCPU of pid and of its children: a relay with worker
// processes (nginx) is measured whole. ferry and HAProxy have none.
func treeCPU(pid int) (cpuTimes, error) {
	t, err := processCPU(pid)
	if err != nil {
		return t, err
	}
	for _, c := range children(pid) {
		if ct, err := processCPU(c); err == nil {
			t.user += ct.user
			t.sys += ct.sys
		}
	}
	return t, nil
}

// treeMem is processMem of pid plus its children's: resident memory added
// up, and the sum of their peaks (an upper bound of the tree's peak).
func treeMem(pid int) (memKiB, error) {
	m, err := processMem(pid)
	if err != nil {
		return m, err
	}
	for _, c := range children(pid) {
		if cm, err := processMem(c); err == nil {
			m.rss += cm.rss
			m.peak += cm.peak
		}
	}
	return m, nil
}
