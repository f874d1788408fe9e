//go:build unix

package loadgen

import (
	"math"
	"os"
	"syscall"
)

// fdRoom returns the soft RLIMIT_NOFILE and how many descriptors the process
// has open now, or ok false when the limit cannot be read. Go raises the soft
// limit to the hard one at start-up on Linux, so this is the real ceiling.
// Open descriptors are counted from /proc/self/fd, or /dev/fd where there is
// no /proc; when neither can be read, open is 0 and only the limit is checked.
func fdRoom() (limit, open int, ok bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, false
	}
	// Cur is unsigned on some systems and signed on others; RLIM_INFINITY
	// is all ones in both.
	cur := uint64(lim.Cur)
	limit = math.MaxInt
	if cur < math.MaxInt {
		limit = int(cur)
	}
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			return limit, len(ents), true
		}
	}
	return limit, 0, true
}
