package loadgen

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// generous bounds every wait: CI machines are small and busy.
const generous = 20 * time.Second

func newSink(t *testing.T) *Sink {
	t.Helper()
	s, err := NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWriterToSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    Writer
	}{
		{name: "bytes=1", w: Writer{Bytes: 1}},
		{name: "bytes=chunk+1", w: Writer{Bytes: chunkSize + 1}},
		{name: "bytes=3_patterns", w: Writer{Bytes: 3*int64(len(pattern)) + 17}},
		{name: "duration=100ms", w: Writer{Duration: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			s := newSink(t)
			c := dial(t, s.Addr())
			sent, err := tc.w.Run(ctx, c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.w.Bytes > 0 && sent.Bytes != tc.w.Bytes {
				t.Errorf("sent %d bytes, want %d", sent.Bytes, tc.w.Bytes)
			}
			if sent.Bytes == 0 {
				t.Fatal("sent nothing")
			}
			got, err := s.Wait(ctx, 1)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if got[0].Err != nil {
				t.Errorf("sink stream ended with %v", got[0].Err)
			}
			if got[0].Stream != sent {
				t.Errorf("sink got %+v, writer sent %+v", got[0].Stream, sent)
			}
		})
	}
}

func TestWriterDeterministic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	s := newSink(t)
	const n = 5<<20 + 3
	var sums []Stream
	for range 2 {
		sent, err := Writer{Bytes: n}.Run(ctx, dial(t, s.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sent)
	}
	if sums[0] != sums[1] {
		t.Errorf("two writers of %d bytes differ: %+v, %+v", n, sums[0], sums[1])
	}
	got, err := s.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Stream != sums[0] {
			t.Errorf("stream %d: sink got %+v, want %+v", i, r.Stream, sums[0])
		}
	}
}

func TestSinkChecksumsKnownBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	s := newSink(t)
	msg := []byte("ferry carries bytes")
	c := dial(t, s.Addr())
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := s.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Checksum(msg)
	if got[0].Stream != want {
		t.Errorf("sink got %+v, want %+v", got[0].Stream, want)
	}
	// A single changed byte must change the checksum.
	msg[3] ^= 1
	if Checksum(msg) == want {
		t.Error("checksum did not change with the data")
	}
}

func TestWriterStopsWithContext(t *testing.T) {
	// A peer that never reads: the writer fills the socket buffers and
	// blocks until ctx ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c := dial(t, ln.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sent, err := Writer{}.Run(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
	}
	if sent.Bytes == 0 {
		t.Error("wrote nothing before blocking")
	}
	select {
	case p := <-accepted:
		p.Close()
	case <-time.After(generous):
		t.Fatal("listener never accepted")
	}
}

func TestSinkWaitHonoursContext(t *testing.T) {
	s := newSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait returned %v, want context.Canceled", err)
	}
}

func TestSinkCloseEndsLiveStreams(t *testing.T) {
	s, err := NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Close must return even though the stream never ends by itself. The
	// connection may or may not have been accepted yet; either way Close
	// returns once every goroutine is gone.
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(generous):
		t.Fatal("Close did not return")
	}
	for _, r := range s.Received() {
		if r.Err == nil {
			t.Errorf("stream cut by Close reported no error: %+v", r)
		}
	}
}
