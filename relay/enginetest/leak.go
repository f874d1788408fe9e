package enginetest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakPatience bounds how long checkLeaks waits for fds and goroutines to
// come back to their baseline. The wait is long so that a busy machine does
// not fail the check; the comparisons themselves are exact.
const leakPatience = 10 * time.Second

// A baseline is what the process held before a scenario started.
type baseline struct {
	fds        fdCount
	goroutines int
}

// fdCount is the process's open file descriptors, from /proc/self/fd.
type fdCount struct {
	ok      bool // false where /proc/self/fd is absent: fds are not checked
	all     int
	sockets int
}

func takeBaseline() baseline {
	return baseline{fds: countFDs(), goroutines: runtime.NumGoroutine()}
}

// countFDs counts the entries of /proc/self/fd and, of those, the sockets.
// The descriptor ReadDir opens to list the directory is counted every time,
// so it cancels out.
func countFDs() fdCount {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fdCount{}
	}
	c := fdCount{ok: true, all: len(ents)}
	for _, e := range ents {
		// An fd closed since ReadDir fails here and is not counted as a
		// socket, which can only make the socket count lower.
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			c.sockets++
		}
	}
	return c
}

// checkLeaks fails t unless the process's sockets, then all its fds and its
// goroutines, come back to at most the baseline.
//
// Sockets are checked first and without forcing a garbage collection: an
// engine has closed every socket by the time Close returns, and a collection
// would hide a socket it forgot, since the net package closes unreachable
// sockets from a finalizer. Then the garbage collector runs while the check
// waits for the rest: the Go runtime keeps splice pipes in a sync.Pool that
// only collection empties (the first moves them to the victim cache, the
// second drops them), and it closes their fds from a cleanup goroutine
// afterwards; and exiting goroutines take a moment to be counted out.
func (b baseline) checkLeaks(t testing.TB) {
	t.Helper()
	if b.fds.ok {
		waitFor(func() bool { return countFDs().sockets <= b.fds.sockets }, false)
		if now := countFDs(); now.sockets > b.fds.sockets {
			t.Errorf("socket leak: %d sockets open %v after Close, baseline %d", now.sockets, leakPatience, b.fds.sockets)
		}
	}
	settled := func() bool {
		if b.fds.ok && countFDs().all > b.fds.all {
			return false
		}
		return runtime.NumGoroutine() <= b.goroutines
	}
	if waitFor(settled, true) {
		return
	}
	msg := fmt.Sprintf("%d goroutines (baseline %d)", runtime.NumGoroutine(), b.goroutines)
	if b.fds.ok {
		msg = fmt.Sprintf("%d fds (baseline %d), %s", countFDs().all, b.fds.all, msg)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Errorf("leak %v after Close: %s; goroutines:\n%s", leakPatience, msg, buf)
}

// waitFor polls cond every 10ms for up to leakPatience, collecting garbage
// first each time if gc is set, and reports whether cond became true.
func waitFor(cond func() bool, gc bool) bool {
	deadline := time.Now().Add(leakPatience)
	for {
		if gc {
			runtime.GC()
		}
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
