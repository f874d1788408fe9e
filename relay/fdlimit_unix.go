//go:build unix

package relay

import "syscall"

// fdLimit is the process's soft limit on open files, which the Go runtime
// raises to the hard limit at start-up.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return int(rl.Cur)
}
