package pairs_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/internal/pairs"
)

// copyBuf is a plain user-space copy, standing in for an engine's.
var copyBuf = new(pairs.BufferedCopy).Copy

var errBroken = errors.New("broken copy")

// The first error a pair sees is the one it reports: the errors the other
// direction then gets from the sockets the abort closed must not replace it.
func TestFirstErrorWins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broken func(p *enginetest.Pair) *net.TCPConn // the test end whose bytes make the copy fail
	}{
		{name: "a_to_b", broken: func(p *enginetest.Pair) *net.TCPConn { return p.C1 }},
		{name: "b_to_a", broken: func(p *enginetest.Pair) *net.TCPConn { return p.C2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSet(t, func(dst, src relay.Stream, moved func(int64)) error {
				var one [1]byte
				if _, err := src.Read(one[:]); err != nil {
					return err
				}
				if one[0] == 'x' {
					return errBroken
				}
				moved(1)
				return copyBuf(dst, src, moved)
			})
			t.Cleanup(func() { s.Close() })
			p := enginetest.NewPair(t, s)
			other := p.C2
			if tc.broken(p) == p.C2 {
				other = p.C1
			}
			if _, err := tc.broken(p).Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			r := p.Result(t, 20*time.Second)
			if !errors.Is(r.Err, errBroken) {
				t.Errorf("Result.Err = %v, want the copy's own error", r.Err)
			}
			other.SetReadDeadline(time.Now().Add(20 * time.Second))
			var one [1]byte
			if _, err := other.Read(one[:]); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("peer read %v, want ECONNRESET", err)
			}
			if c := s.Counters(); c[relay.CounterResets] != 1 || c[relay.CounterPairsDone] != 1 {
				t.Errorf("counters %v, want one pair done and one reset", c)
			}
		})
	}
}

// TCPConn finds the sockets of a pair given to Relay, which is what lets
// gocopy splice, and none behind the Streams given to RelayStreams.
func TestTCPConn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		relay   func(s *pairs.Set, a, b *net.TCPConn)
		sockets bool // whether the CopyFunc should find a and b
	}{
		{name: "relay", relay: func(s *pairs.Set, a, b *net.TCPConn) { s.Relay(a, b, nil) }, sockets: true},
		{name: "relay_streams", relay: func(s *pairs.Set, a, b *net.TCPConn) {
			s.RelayStreams(relay.TCPStream(a), relay.TCPStream(b), nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found := make(chan [2]*net.TCPConn, 2) // dst and src, from each direction
			s := newSet(t, func(dst, src relay.Stream, moved func(int64)) error {
				found <- [2]*net.TCPConn{pairs.TCPConn(dst), pairs.TCPConn(src)}
				return copyBuf(dst, src, moved)
			})
			t.Cleanup(func() { s.Close() })
			a, b := loopback(t)
			tc.relay(s, a, b)
			want := map[[2]*net.TCPConn]bool{{b, a}: true, {a, b}: true} // a to b, b to a
			if !tc.sockets {
				want = map[[2]*net.TCPConn]bool{{nil, nil}: true}
			}
			for range 2 {
				if got := <-found; !want[got] {
					t.Errorf("TCPConn(dst), TCPConn(src) = %p, %p; a is %p, b is %p, want sockets %v", got[0], got[1], a, b, tc.sockets)
				}
			}
		})
	}
}

// newSet returns a Set without an idle timeout that copies with copyFn. The
// caller closes it.
func newSet(t *testing.T, copyFn pairs.CopyFunc) *pairs.Set {
	t.Helper()
	s, err := pairs.New(relay.Options{}, copyFn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loopback returns the accepted ends of two loopback connections, for a Set
// to relay. t.Cleanup closes the dialled ends.
func loopback(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted [2]*net.TCPConn
	for i := range accepted {
		c, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if accepted[i], err = ln.AcceptTCP(); err != nil {
			t.Fatal(err)
		}
	}
	return accepted[0], accepted[1]
}

// Close returns only after the done functions it caused have returned.
func TestCloseWaitsForDone(t *testing.T) {
	s := newSet(t, copyBuf)
	a, b := loopback(t)
	inDone, release := make(chan struct{}), make(chan struct{})
	s.Relay(a, b, func(r relay.Result) {
		close(inDone)
		<-release
	})
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	<-inDone
	select {
	case <-closed:
		t.Fatal("Close returned while a done function was still running")
	default:
	}
	close(release)
	<-closed
}

func TestSweepInterval(t *testing.T) {
	for _, tc := range []struct {
		idle, want time.Duration
	}{
		{idle: time.Minute, want: 15 * time.Second},
		{idle: 200 * time.Millisecond, want: 50 * time.Millisecond},
		{idle: time.Millisecond, want: 5 * time.Millisecond},
	} {
		if got := pairs.SweepInterval(tc.idle); got != tc.want {
			t.Errorf("SweepInterval(%v) = %v, want %v", tc.idle, got, tc.want)
		}
	}
}
