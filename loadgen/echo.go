package loadgen

import (
	"context"
	"net"
	"sync"
)

// echoBufSize is each connection's read buffer, alive as long as the
// connection's goroutine. It is larger than any request a latency workload
// sends in one piece, so a request is usually echoed with one read and one
// write, yet small enough that thousands of connections cost little.
const echoBufSize = 64 << 10

// An Echo is a TCP backend that writes back every byte it reads on each
// accepted connection, in order, until the peer half-closes; then it closes
// the connection, so the peer reads EOF after the last echoed byte. It
// echoes whatever each Read returns at once rather than waiting to fill its
// buffer, so a small request comes back promptly; Go's default of
// TCP_NODELAY keeps the kernel from holding it back either.
type Echo struct {
	ln net.Listener
	wg sync.WaitGroup // the accept loop and one goroutine per connection

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{} // live connections, closed by Close
	changed chan struct{}         // closed and replaced when conns shrinks
}

// NewEcho listens on addr (such as "127.0.0.1:0") and starts accepting.
func NewEcho(addr string) (*Echo, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	e := &Echo{ln: ln, conns: make(map[net.Conn]struct{}), changed: make(chan struct{})}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

// Addr is the address the Echo accepts on.
func (e *Echo) Addr() net.Addr { return e.ln.Addr() }

func (e *Echo) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return // closed by Close
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.serve(c)
	}
}

// serve echoes c until the peer's EOF, a read or write error, or Close.
// Either way the connection is closed: after EOF every byte read has been
// written back, so nothing unread is left to turn the close into a reset.
func (e *Echo) serve(c net.Conn) {
	defer e.wg.Done()
	buf := make([]byte, echoBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	e.mu.Lock()
	delete(e.conns, c)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// waitConns blocks until at most n connections are live, or ctx ends.
// Tests use it to prove a client closed every connection it opened.
func (e *Echo) waitConns(ctx context.Context, n int) error {
	for {
		e.mu.Lock()
		live, ch := len(e.conns), e.changed
		e.mu.Unlock()
		if live <= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Close stops accepting, closes every live connection and returns when
// every goroutine has ended.
func (e *Echo) Close() error {
	e.mu.Lock()
	e.closed = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	err := e.ln.Close()
	e.wg.Wait()
	return err
}
