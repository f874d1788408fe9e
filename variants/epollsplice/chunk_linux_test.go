package epollsplice

import (
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

// BenchmarkChunk measures what one chunk costs to move from one socket to
// another with each conduit, and nothing else: no epoll, no wake-ups, no
// second thread. One goroutine writes size bytes into socket A, moves them
// from A's peer to socket B through the conduit (Fill then Drain, as the
// reactor does), and reads them from B's peer, all on loopback with the bytes
// fitting the socket buffers, so nothing blocks. The write and the read are
// the same for both conduits; the difference between mode=copy and
// mode=splice is the conduit's own cost: read(2)+write(2) with two memory
// copies, or two splice(2) calls moving page references through a pipe.
// It is how docs/engines.md decides whether small chunks should be copied
// rather than spliced:
//
//	go test -run '^$' -bench Chunk -count 6 ./variants/epollsplice
func BenchmarkChunk(b *testing.B) {
	modes := []struct {
		name string
		pool func() reactor.Pool
	}{
		{"copy", func() reactor.Pool { return reactor.NewBufferPool(reactor.DefaultBufferSize) }},
		{"splice", func() reactor.Pool { return newPipePool(DefaultPipeSize, newPipe, &fallbackLog{}) }},
	}
	for _, size := range []int{64, 512, 4 << 10, 16 << 10, 64 << 10} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("size=%s/mode=%s", sizeLabel(size), m.name), func(b *testing.B) {
				inW, inR := rawPair(b)
				outW, outR := rawPair(b)
				pool := m.pool()
				defer pool.Close()
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					mustWriteAll(b, inW, buf)
					c, err := pool.Get()
					if err != nil {
						b.Fatal(err)
					}
					for got := 0; got < size; {
						n, err := c.Fill(inR)
						if err != nil || n == 0 {
							b.Fatalf("fill after %d of %d bytes: %d, %v", got, size, n, err)
						}
						got += n
						for c.Len() > 0 {
							if _, err := c.Drain(outW); err != nil {
								b.Fatalf("drain: %v", err)
							}
						}
					}
					pool.Put(c)
					mustReadAll(b, outR, buf)
				}
			})
		}
	}
}

// rawPair is a loopback TCP connection as two blocking fds, writer and
// reader, owned by the benchmark. Blocking is fine: every call here has its
// bytes or its room already.
func rawPair(b *testing.B) (w, r int) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c2, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	w, r = dupFD(b, c1.(*net.TCPConn)), dupFD(b, c2.(*net.TCPConn))
	c1.Close()
	c2.Close()
	b.Cleanup(func() { unix.Close(w); unix.Close(r) })
	return w, r
}

func dupFD(b *testing.B, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	fd := -1
	if cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		b.Fatal(cerr)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		b.Fatal(err)
	}
	return fd
}

func mustWriteAll(b *testing.B, fd int, p []byte) {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err != nil {
			b.Fatal(err)
		}
		p = p[n:]
	}
}

func mustReadAll(b *testing.B, fd int, p []byte) {
	for len(p) > 0 {
		n, err := unix.Read(fd, p)
		if err != nil || n == 0 {
			b.Fatalf("read: %d, %v", n, err)
		}
		p = p[n:]
	}
}

func sizeLabel(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
