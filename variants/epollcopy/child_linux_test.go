package epollcopy_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// The idle-pairs test and the child benchmarks keep the far ends of their
// pairs in a child process: this test binary run again with childEnv set.
// For the idle test that keeps each process under RLIMIT_NOFILE; for the
// benchmarks it puts the peers' wake-ups on another process's threads, as a
// tunnel's peers are, instead of letting the Go scheduler chain them with a
// goroutine engine's on one thread.
const (
	childEnv = "FERRY_IDLE_CHILD" // set in the child process

	// dialBatch is how many pairs the child dials before waiting for the
	// parent to accept them: 2×dialBatch connections, well under the listen
	// backlog of 4096 (net.core.somaxconn), so no SYN is dropped.
	dialBatch = 500

	bigPatience = 60 * time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// childProc is the child process and the line protocol to it: the parent
// sends a command, the child answers with a line.
//
//	dial A B N      dial N pairs (A then B for each, one pair after another),
//	                answering "dialed K" after each batch and waiting for
//	                "next"; then ping each pair both ways and answer "ready"
//	pingpong N SIZE N round trips of SIZE bytes through pair 0: "done"
//	bulk N SIZE     N writes of SIZE bytes through pair 0, a→b: "done"
//	close           close every pair: "closed"
type childProc struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(tb testing.TB) *childProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	// Killed if this process dies first; it also exits at EOF on stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				tb.Errorf("child: %v; stderr:\n%s", err, stderr)
			}
		case <-time.After(bigPatience):
			cmd.Process.Kill()
			tb.Errorf("child did not exit; stderr:\n%s", stderr)
		}
	})
	return &childProc{in: in, out: bufio.NewScanner(out)}
}

func (c *childProc) send(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		tb.Fatalf("to child: %v", err)
	}
}

// recv reads the child's next line. The child answers every command or
// exits, and bounds its own waits, so this cannot hang for long.
func (c *childProc) recv(tb testing.TB) string {
	tb.Helper()
	if !c.out.Scan() {
		tb.Fatalf("child exited: %v", c.out.Err())
	}
	return c.out.Text()
}

// expect reads the child's next line and fails tb unless it is want.
func (c *childProc) expect(tb testing.TB, want string) {
	tb.Helper()
	if line := c.recv(tb); line != want {
		tb.Fatalf("child said %q, want %q", line, want)
	}
}

// relayChildPairs has the child dial n pairs to lnA and lnB and relays each
// on e as it is accepted, pacing the child's dials batch by batch. It
// returns once every pair has relayed a ping both ways, with the count of
// pairs whose done has run and the time it took.
func relayChildPairs(tb testing.TB, child *childProc, e relay.Engine, lnA, lnB *net.TCPListener, n int) (*atomic.Int64, time.Duration) {
	tb.Helper()
	ended := new(atomic.Int64)
	relayed := make(chan int, n)
	acceptErr := make(chan error, 1) // only on failure
	go func() {
		// The child dials A then B for each pair, one pair after another,
		// so the i-th connection accepted on each listener is pair i.
		for i := range n {
			a, err := lnA.AcceptTCP()
			if err != nil {
				acceptErr <- err
				return
			}
			b, err := lnB.AcceptTCP()
			if err != nil {
				a.Close()
				acceptErr <- err
				return
			}
			e.Relay(a, b, func(relay.Result) { ended.Add(1) })
			relayed <- i + 1
		}
	}()

	start := time.Now()
	child.send(tb, "dial %s %s %d", lnA.Addr(), lnB.Addr(), n)
	have := 0
	for {
		line := child.recv(tb)
		var k int
		if _, err := fmt.Sscanf(line, "dialed %d", &k); err == nil {
			// Pace the child: the next batch only once this one is in.
			for have < k {
				select {
				case have = <-relayed:
				case err := <-acceptErr:
					tb.Fatalf("accept after %d pairs: %v", have, err)
				case <-time.After(bigPatience):
					tb.Fatalf("relayed %d pairs of %d dialled in %v", have, k, bigPatience)
				}
			}
			child.send(tb, "next")
			continue
		}
		if line == "ready" {
			return ended, time.Since(start)
		}
		tb.Fatalf("child: %q", line)
	}
}

func listen(tb testing.TB) *net.TCPListener {
	tb.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// childMain is the child: it runs the commands read from stdin (see
// childProc), answering on stdout. An error goes to stderr and ends the
// child with status 1. Every read it makes has a deadline.
func childMain() int {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	var conns [][2]*net.TCPConn
	for in.Scan() {
		f := strings.Fields(in.Text())
		var n, size int
		var err error
		if len(f) >= 3 && (f[0] == "pingpong" || f[0] == "bulk") {
			if n, err = strconv.Atoi(f[1]); err == nil {
				size, err = strconv.Atoi(f[2])
			}
			if err != nil {
				return fail("%s: %v", f[0], err)
			}
			if len(conns) == 0 {
				return fail("%s: no pair", f[0])
			}
			conns[0][0].SetDeadline(time.Now().Add(10 * time.Minute))
			conns[0][1].SetDeadline(time.Now().Add(10 * time.Minute))
		}
		switch {
		case len(f) == 4 && f[0] == "dial":
			if n, err = strconv.Atoi(f[3]); err != nil {
				return fail("dial: %v", err)
			}
			for i := range n {
				var pc [2]*net.TCPConn
				for side, addr := range f[1:3] {
					c, err := net.DialTimeout("tcp4", addr, bigPatience)
					if err != nil {
						return fail("dial pair %d: %v", i, err)
					}
					pc[side] = c.(*net.TCPConn)
				}
				conns = append(conns, pc)
				if (i+1)%dialBatch == 0 || i+1 == n {
					say("dialed %d", i+1)
					if !in.Scan() || in.Text() != "next" {
						return fail("dialed %d: parent said %q", i+1, in.Text())
					}
				}
			}
			// Ping every pair: its index through a→b, back through
			// b→a. A pair crossed with another would read the wrong
			// index.
			for i, pc := range conns {
				var buf [4]byte
				binary.BigEndian.PutUint32(buf[:], uint32(i))
				for side := range 2 {
					from, to := pc[side], pc[1-side]
					to.SetReadDeadline(time.Now().Add(bigPatience))
					if _, err := from.Write(buf[:]); err != nil {
						return fail("pair %d: write: %v", i, err)
					}
					var got [4]byte
					if _, err := io.ReadFull(to, got[:]); err != nil {
						return fail("pair %d: read: %v", i, err)
					}
					if got != buf {
						return fail("pair %d received pair %d's ping", i, binary.BigEndian.Uint32(got[:]))
					}
				}
			}
			say("ready")
		case len(f) == 3 && f[0] == "pingpong":
			c1, c2 := conns[0][0], conns[0][1]
			buf := make([]byte, size)
			for range n {
				if _, err := c1.Write(buf); err != nil {
					return fail("pingpong: %v", err)
				}
				if _, err := io.ReadFull(c2, buf); err != nil {
					return fail("pingpong: %v", err)
				}
				if _, err := c2.Write(buf); err != nil {
					return fail("pingpong: %v", err)
				}
				if _, err := io.ReadFull(c1, buf); err != nil {
					return fail("pingpong: %v", err)
				}
			}
			say("done")
		case len(f) == 3 && f[0] == "bulk":
			c1, c2 := conns[0][0], conns[0][1]
			sent := make(chan error, 1)
			go func() {
				buf := make([]byte, size)
				for range n {
					if _, err := c1.Write(buf); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			buf := make([]byte, size)
			for range n {
				if _, err := io.ReadFull(c2, buf); err != nil {
					return fail("bulk: %v", err)
				}
			}
			if err := <-sent; err != nil {
				return fail("bulk: %v", err)
			}
			say("done")
		case len(f) == 1 && f[0] == "close":
			for _, pc := range conns {
				pc[0].Close()
				pc[1].Close()
			}
			conns = nil
			say("closed")
		default:
			return fail("unknown command %q", in.Text())
		}
	}
	return 0
}
