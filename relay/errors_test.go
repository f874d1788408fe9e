package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHandshakeErrorsSayRelayOnce: a client whose server answers the
// handshake with something it cannot read gets an error that says what it
// was doing and what went wrong, with the relay: prefix once ("relay:
// handshake: frame too large: ...", not "relay: handshake: relay: frame too
// large: ..."), and that errors.Is still finds the cause.
func TestHandshakeErrorsSayRelayOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte // what the server writes after reading the preamble
		want   error
		says   string
	}{
		{name: "frame too large", answer: []byte{FrameChallenge, 0xff, 0xff}, want: ErrFrameTooLarge,
			says: "relay: handshake: frame too large: type 0x1, 65535 bytes"},
		{name: "unknown frame", answer: []byte{0xee, 0, 0}, want: ErrUnknownFrame,
			says: "relay: handshake: unknown frame type: 0xee"},
		{name: "closed", answer: nil, want: io.EOF, says: "relay: handshake: EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				io.ReadFull(c, make([]byte, len(preamble(KindControl))))
				c.Write(tc.answer)
			}()
			cl, err := NewClient(ClientConfig{Server: ln.Addr().String(), Token: "t",
				Tunnels: []TunnelConfig{{Name: "web", Local: "127.0.0.1:1"}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cl.Close() })
			_, err = cl.session(context.Background())
			if !errors.Is(err, tc.want) {
				t.Errorf("session: %v, want %v", err, tc.want)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.says) || strings.Count(err.Error(), "relay:") != 1 {
				t.Errorf("session: %q, want it to start %q and say relay: once", err, tc.says)
			}
		})
	}
}
