package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// Received is one stream a Sink read to its end.
type Received struct {
	Stream
	// Err is nil when the stream ended with EOF, otherwise what ended it
	// (a reset, or Close).
	Err error
}

// A Sink is a TCP backend that reads every accepted connection to its end,
// counting and checksumming the bytes, and then closes it. It never writes.
type Sink struct {
	ln net.Listener
	wg sync.WaitGroup // the accept loop and one reader per connection

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // live connections, closed by Close

	received record[Received]
}

// readSize is the Sink's read buffer, one per connection, alive as long as
// the connection's reader goroutine.
const readSize = 256 << 10

// NewSink listens on addr (such as "127.0.0.1:0") and starts accepting.
func NewSink(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the Sink accepts on.
func (s *Sink) Addr() net.Addr { return s.ln.Addr() }

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed by Close
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.read(c)
	}
}

func (s *Sink) read(c net.Conn) {
	defer s.wg.Done()
	var r Received
	buf := make([]byte, readSize)
	for {
		n, err := c.Read(buf)
		r.add(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.Err = err
			break
		}
	}
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.received.add(r)
}

// Received returns the streams that have ended so far.
func (s *Sink) Received() []Received { return s.received.all() }

// Wait blocks until at least n streams have ended, and returns all that
// have, or ctx's error.
func (s *Sink) Wait(ctx context.Context, n int) ([]Received, error) { return s.received.wait(ctx, n) }

// Close stops accepting, closes every live connection (their streams are
// recorded with an error) and returns when every goroutine has ended.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}
