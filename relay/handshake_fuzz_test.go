package relay

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzHandshake opens a connection to a real server over loopback, sends
// the input as everything the client ever says, and reads what comes back.
// Whatever the bytes, the server must answer with nothing but well-formed
// frames (a data connection: at most one data Refused), never AuthOK (no
// input can know the fresh challenge's proof),
// close the connection, and go on serving: a real client still
// authenticates afterwards. The seeds run in make test; `go test -fuzz
// FuzzHandshake ./relay` explores further, and anything it finds is kept
// under testdata/fuzz/FuzzHandshake.
func FuzzHandshake(f *testing.F) {
	ctl, data := preamble(KindControl), preamble(KindData)
	auth := encoder{}.raw(make([]byte, nonceLen)).raw(make([]byte, macLen)).str("fuzz")
	var authFrame bytes.Buffer
	writeFrame(&authFrame, FrameAuth, auth)
	for _, seed := range [][]byte{
		nil,
		ctl,
		data,
		append(bytes.Clone(ctl), authFrame.Bytes()...),                  // a wrong proof
		append(bytes.Clone(ctl), FrameAuth, 0xff, 0xff),                 // an auth frame far over its limit
		append(bytes.Clone(ctl), FrameRegister, 0, 2, 0, 0),             // registering before auth
		append(bytes.Clone(data), bytes.Repeat([]byte{0xa5}, 60)...),    // a forged data header
		append(bytes.Clone(data), 1, 2, 3),                              // a truncated data header
		append([]byte("FRY\x00"), 2, KindControl),                       // a version from the future
		[]byte("GET / HTTP/1.1\r\nHost: ferry\r\n\r\n"),                 // the wrong protocol
		append(bytes.Clone(ctl), bytes.Repeat(authFrame.Bytes(), 3)...), // proofs in a row
		{tlsHandshakeRecord, 3, 1, 0, 5, 1, 0, 0, 1, 0},                 // a TLS client at a server without TLS
	} {
		f.Add(seed)
	}
	srv := newTestServer(f, func(c *ServerConfig) {
		c.HandshakeTimeout = 2 * time.Second
		c.AuthFailures = 1 << 30 // every input gets the whole handshake
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write(in) // the server may close before reading it all
		c.(*net.TCPConn).CloseWrite()
		out, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server neither answered nor closed within 30 s of %x", in)
		}
		// A data connection is answered with at most one data Refused
		// message; anything else with well-formed control frames, none
		// of which admits the client.
		if bytes.HasPrefix(in, data) {
			if len(out) > 0 && (len(out) != 3 || out[0] != DataRefused || out[1] != 1) {
				t.Fatalf("server answered a data connection with %x, want nothing or one data Refused", out)
			}
			dialRaw(t, srv, "real").conn.Close()
			return
		}
		for r := bytes.NewReader(out); r.Len() > 0; {
			typ, _, err := readFrame(r)
			if err != nil {
				t.Fatalf("server sent %x: not frames: %v", out, err)
			}
			if typ == FrameAuthOK {
				t.Fatalf("input %x was admitted", in)
			}
		}
		// Still serving: a real client gets in right after.
		dialRaw(t, srv, "real").conn.Close()
	})
}
