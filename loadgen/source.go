package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// A Source request is the first and only thing a client sends a Source. It
// is requestLen bytes, integers big-endian:
//
//	offset  size  field
//	0       4     magic "FSRC"
//	4       8     Bytes: stop after this many bytes; 0 means no size limit
//	12      8     Duration in nanoseconds: stop after this long; 0 means no time limit
//
// At least one limit must be set and neither may exceed 2^63-1, so every
// stream a Source sends has an end the client can wait for. The fields are
// Writer's, so the Source simply runs a Writer with them: the stream is the
// same pattern an upload carries, checksummed the same way.
const requestLen = 20

// sourceMagic opens every request, so that a connection from something else
// (a Writer or a port scanner pointed at the wrong backend) is refused rather
// than read as an order for an endless stream. A changed layout gets a new
// magic.
var sourceMagic = [4]byte{'F', 'S', 'R', 'C'}

// requestTimeout bounds the wait for a request, the one read a Source makes
// before it knows its client. It is generous: a harness may dial all of its
// streams through a busy tunnel before it sends the first request.
const requestTimeout = 30 * time.Second

// Sent is one stream a Source wrote: its bytes, and how the write ended.
type Sent struct {
	Stream
	// Err is nil when the whole stream was written and the write side
	// closed, otherwise what stopped it: a bad request, a reset, or Close.
	Err error
}

// A Source is a TCP backend for downloads. Each connection sends it one
// request; the Source writes the pattern for as long or as many bytes as
// asked, half-closes, and records what it wrote. It then reads and discards
// until the client closes, so that closing never resets a stream the client
// is still reading.
type Source struct {
	ln     net.Listener
	ctx    context.Context // ends in Close, cutting short every Writer
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and one goroutine per connection

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // live connections, closed by Close

	sent record[Sent]
}

// NewSource listens on addr (such as "127.0.0.1:0") and starts accepting.
func NewSource(addr string) (*Source, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		ln: ln, ctx: ctx, cancel: cancel,
		conns: make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the Source accepts on.
func (s *Source) Addr() net.Addr { return s.ln.Addr() }

func (s *Source) accept() {
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
		go s.serve(c)
	}
}

func (s *Source) serve(c net.Conn) {
	defer s.wg.Done()
	r := s.send(c)
	s.sent.add(r)
	if r.Err == nil {
		// The stream is recorded as soon as its last byte is queued, so
		// a harness can compare without depending on the close path.
		// Closing now could reset it before the client has read it all
		// (if the client sent anything more, that unread data turns a
		// close into a reset), so wait for the client's close first.
		io.Copy(io.Discard, c)
	}
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// send reads c's request and writes the stream it asks for.
func (s *Source) send(c net.Conn) Sent {
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	var req [requestLen]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return Sent{Err: fmt.Errorf("loadgen: source: reading request: %w", err)}
	}
	c.SetReadDeadline(time.Time{})
	w, err := parseRequest(req)
	if err != nil {
		return Sent{Err: err}
	}
	st, err := w.Run(s.ctx, c)
	return Sent{Stream: st, Err: err}
}

// Sent returns the streams that have ended so far.
func (s *Source) Sent() []Sent { return s.sent.all() }

// Wait blocks until at least n streams have ended, and returns all that
// have, or ctx's error.
func (s *Source) Wait(ctx context.Context, n int) ([]Sent, error) { return s.sent.wait(ctx, n) }

// Close stops accepting, closes every live connection (a stream cut short
// is recorded with an error) and returns when every goroutine has ended.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// A Fetch is the client of a Source: it asks for a stream and reads it to
// the end. Set Duration, Bytes or both; the Source stops at whichever comes
// first.
type Fetch struct {
	// Duration asks the Source to write for this long.
	Duration time.Duration
	// Bytes asks the Source to write this many bytes.
	Bytes int64
}

// request encodes f in the layout documented at requestLen.
func (f Fetch) request() ([requestLen]byte, error) {
	var req [requestLen]byte
	if f.Duration < 0 || f.Bytes < 0 || (f.Duration == 0 && f.Bytes == 0) {
		return req, fmt.Errorf("%w: Duration %v, Bytes %d: want one of them positive and neither negative",
			ErrBadRequest, f.Duration, f.Bytes)
	}
	copy(req[:4], sourceMagic[:])
	binary.BigEndian.PutUint64(req[4:12], uint64(f.Bytes))
	binary.BigEndian.PutUint64(req[12:20], uint64(f.Duration))
	return req, nil
}

// parseRequest decodes a request into the Writer that serves it.
func parseRequest(req [requestLen]byte) (Writer, error) {
	if [4]byte(req[:4]) != sourceMagic {
		return Writer{}, fmt.Errorf("%w: magic %q, want %q", ErrBadRequest, req[:4], sourceMagic[:])
	}
	n := binary.BigEndian.Uint64(req[4:12])
	d := binary.BigEndian.Uint64(req[12:20])
	if n > math.MaxInt64 || d > math.MaxInt64 || (n == 0 && d == 0) {
		return Writer{}, fmt.Errorf("%w: bytes %d, duration %d ns: want one of them in 1..2^63-1, the other at most that",
			ErrBadRequest, n, d)
	}
	return Writer{Bytes: int64(n), Duration: time.Duration(d)}, nil
}

// Run sends f's request on c, then reads c to EOF and returns what it read.
// It neither half-closes nor closes c: the Source closes its side after the
// stream, and the caller closes c once Run returns, which in turn lets the
// Source close. When ctx ends first, or a read fails, Run returns the bytes
// read so far and the error; ctx's end leaves c with deadlines in the past.
func (f Fetch) Run(ctx context.Context, c net.Conn) (Stream, error) {
	var got Stream
	req, err := f.request()
	if err != nil {
		return got, err
	}
	// A deadline is the only way to interrupt a blocked Read or Write.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(req[:]); err != nil {
		return got, ctxOr(ctx, err)
	}
	// The buffer lives as long as this call.
	buf := make([]byte, readSize)
	for {
		n, err := c.Read(buf)
		got.add(buf[:n])
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, ctxOr(ctx, err)
		}
	}
}

// ctxOr returns ctx's error when ctx has ended, since then err is most
// likely the past deadline set to interrupt an I/O call, and otherwise err.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
