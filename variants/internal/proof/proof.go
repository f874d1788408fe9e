package proof

import (
	"io"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
)

// Transfer moves n bytes one way through a new pair on e, the receiving end
// reading with read(2), and fails tb unless all n arrive and the pair ends
// cleanly. It returns the pair's Result.
func Transfer(tb testing.TB, e relay.Engine, n int64) relay.Result {
	tb.Helper()
	p := enginetest.NewPair(tb, e)
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			k, err := p.C1.Write(buf[:min(left, int64(len(buf)))])
			left -= int64(k)
			if err != nil {
				sent <- err
				return
			}
		}
		sent <- p.C1.CloseWrite()
	}()
	buf := make([]byte, 64<<10)
	var got int64
	for {
		k, err := p.C2.Read(buf)
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("read after %d bytes: %v", got, err)
		}
	}
	if err := <-sent; err != nil {
		tb.Fatalf("send: %v", err)
	}
	if got != n {
		tb.Fatalf("received %d bytes, sent %d", got, n)
	}
	// The reply direction ends too, so the pair ends without error.
	if err := p.C2.CloseWrite(); err != nil {
		tb.Fatalf("CloseWrite: %v", err)
	}
	r := p.Result(tb, 20*time.Second)
	if r.Err != nil || r.AtoB != n {
		tb.Fatalf("Result %+v, want %d bytes a→b and no error", r, n)
	}
	return r
}

// ReadDuring runs Transfer of n bytes through e the given number of times and
// returns how many bytes the process got from read(2) meanwhile. It skips tb
// where the kernel keeps no such count.
func ReadDuring(tb testing.TB, e relay.Engine, n int64, transfers int) int64 {
	tb.Helper()
	before, err := ReadChars()
	if err != nil {
		tb.Skipf("no read accounting here: %v", err)
	}
	for range transfers {
		Transfer(tb, e, n)
	}
	after, err := ReadChars()
	if err != nil {
		tb.Fatal(err)
	}
	d, total := after-before, int64(transfers)*n
	tb.Logf("relayed %d bytes, process read(2) %d bytes (%.2f×)", total, d, float64(d)/float64(total))
	return d
}
