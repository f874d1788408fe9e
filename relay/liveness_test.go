package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// How a control peer treats a Ping once it is authenticated.
type peerMode int

const (
	answers      peerMode = iota // reads every frame and answers a Ping with its Pong: a live client
	closesOnPing                 // closes on the Ping, as a client from before Ping does on an unknown frame
	silent                       // never reads again: a frozen client, or a network gone silent
)

// authPeer authenticates as id and returns the frame the server answered
// Auth with, its payload, and the connection, which the test's cleanup
// closes.
func authPeer(t *testing.T, srv *Server, id string) (typ byte, p []byte, c net.Conn, err error) {
	c, err = net.Dial("tcp", srv.Addr().String())
	if err != nil {
		return 0, nil, nil, err
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write(preamble(KindControl))
	typ, serverNonce, err := readFrame(c)
	if err != nil || typ != FrameChallenge {
		return 0, nil, nil, fmt.Errorf("challenge: %#x %v", typ, err)
	}
	clientNonce := randomBytes(nonceLen)
	writeFrame(c, FrameAuth, encoder{}.raw(clientNonce).raw(clientMAC(srv.cfg.Token, serverNonce, clientNonce, id)).str(id))
	typ, p, err = readFrame(c)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("auth: %v", err)
	}
	return typ, p, c, nil
}

// behave runs an authenticated peer as mode says, in a goroutine that ends
// with the test. It returns the types of the other frames the peer reads.
func behave(t *testing.T, c net.Conn, mode peerMode) <-chan byte {
	frames := make(chan byte, 64)
	if mode == silent {
		return frames
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, p, err := readFrame(c)
			if err != nil {
				return
			}
			if typ != FramePing {
				select {
				case frames <- typ:
				default: // nobody asks about so many
				}
				continue
			}
			if mode == closesOnPing {
				c.Close()
				return
			}
			writeFrame(c, FramePong, p)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return frames
}

// controlPeer is authPeer followed, after AuthOK, by behave.
func controlPeer(t *testing.T, srv *Server, id string, mode peerMode) (typ byte, p []byte, c net.Conn, frames <-chan byte) {
	t.Helper()
	typ, p, c, err := authPeer(t, srv, id)
	if err != nil {
		t.Fatal(err)
	}
	if typ == FrameAuthOK {
		frames = behave(t, c, mode)
	}
	return typ, p, c, frames
}

// TestSameIDLiveness: a newcomer with a client id that has a session gets
// in only when that session is dead. One that answers the Ping keeps its
// session and the newcomer is refused with IDInUse, naming where the live
// one is; one that closes on the Ping (a client from before Ping) or never
// answers it (frozen) is replaced.
func TestSameIDLiveness(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old      peerMode
		replaced bool
	}{
		{name: "old session answers", old: answers, replaced: false},
		{name: "old client closes on the ping", old: closesOnPing, replaced: true},
		{name: "old session silent", old: silent, replaced: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			typ, _, old, frames := controlPeer(t, srv, "twin", tc.old)
			if typ != FrameAuthOK {
				t.Fatalf("first session: %#x, want AuthOK", typ)
			}
			typ, p, _, _ := controlPeer(t, srv, "twin", answers)
			c := srv.Counters()
			if !tc.replaced {
				d := decoder{b: p}
				code, msg := d.u8(), d.str()
				want := fmt.Sprintf("id twin is in use by a live client at %s; give each client its own --id", old.LocalAddr())
				if typ != FrameError || code != CodeIDInUse || msg != want {
					t.Fatalf("newcomer got %#x code %d %q, want Error IDInUse %q", typ, code, msg, want)
				}
				if c["id_in_use"] != 1 || c["sessions_replaced"] != 0 {
					t.Errorf("id_in_use %d, sessions_replaced %d; want 1 and 0", c["id_in_use"], c["sessions_replaced"])
				}
				// The live session goes on: it can still register.
				writeFrame(old, FrameRegister, encoder{}.u16(0).str("web"))
				timeout := time.After(20 * time.Second)
				for {
					select {
					case ft := <-frames:
						if ft == FrameRegistered {
							return
						}
						if ft != FrameHeartbeat {
							t.Fatalf("the live session's Register: answered %#x, want Registered", ft)
						}
					case <-timeout:
						t.Fatal("the live session's Register: no answer")
					}
				}
			}
			if typ != FrameAuthOK {
				t.Fatalf("newcomer got %#x, want AuthOK: the old session was dead", typ)
			}
			if c["id_in_use"] != 0 || c["sessions_replaced"] != 1 {
				t.Errorf("id_in_use %d, sessions_replaced %d; want 0 and 1", c["id_in_use"], c["sessions_replaced"])
			}
			if tc.old != silent {
				return
			}
			// What the frozen client will find once it reads again: the
			// Ping it missed, then Replaced, then the end.
			ft, fp, err := readFrame(old)
			if err != nil || ft != FramePing || len(fp) != pingLen {
				t.Fatalf("frozen client's next frame: %#x %x %v, want an 8-byte Ping", ft, fp, err)
			}
			ft, fp, err = readFrame(old)
			if err != nil || ft != FrameError || fp[0] != CodeReplaced {
				t.Fatalf("then %#x %x %v, want Error Replaced", ft, fp, err)
			}
			if _, _, err := readFrame(old); !errors.Is(err, io.EOF) {
				t.Fatalf("then %v, want EOF", err)
			}
		})
	}
}

// TestSameIDNewcomersRace: two newcomers with the id of a frozen session
// arrive together. One replaces it; the other waits for that to be decided,
// then finds a live session and is refused. Neither sees a Ping before its
// AuthOK, which controlPeer would report as the answer to its Auth.
func TestSameIDNewcomersRace(t *testing.T) {
	srv := newTestServer(t)
	if typ, _, _, _ := controlPeer(t, srv, "twin", silent); typ != FrameAuthOK {
		t.Fatalf("first session: %#x", typ)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []string
		errs []string
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ, p, c, err := authPeer(t, srv, "twin")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case typ == FrameAuthOK:
				got = append(got, "ok")
				behave(t, c, answers)
			case typ == FrameError && p[0] == CodeIDInUse:
				got = append(got, "in use")
			default:
				errs = append(errs, fmt.Sprintf("frame %#x %x", typ, p))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || strings.Join(got, ",") != "ok,in use" && strings.Join(got, ",") != "in use,ok" {
		t.Fatalf("newcomers got %v %v, want one AuthOK and one IDInUse", got, errs)
	}
}
