package relay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// TestWireConstants pins every wire constant: changing one is a protocol
// change, which needs a new Version and a line in docs/protocol.md.
func TestWireConstants(t *testing.T) {
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"Version", int(Version), 1},
		{"KindControl", int(KindControl), 1},
		{"KindData", int(KindData), 2},
		{"preambleLen", preambleLen, 6},
		{"frameHeaderLen", frameHeaderLen, 3},
		{"dataHeaderLen", dataHeaderLen, 60},
		{"nonceLen", nonceLen, 32},
		{"macLen", macLen, 32},
		{"FrameChallenge", int(FrameChallenge), 0x01},
		{"FrameAuth", int(FrameAuth), 0x02},
		{"FrameAuthOK", int(FrameAuthOK), 0x03},
		{"FrameError", int(FrameError), 0x04},
		{"FrameRegister", int(FrameRegister), 0x10},
		{"FrameRegistered", int(FrameRegistered), 0x11},
		{"FrameRefused", int(FrameRefused), 0x12},
		{"FrameNeedData", int(FrameNeedData), 0x13},
		{"FrameDialFailed", int(FrameDialFailed), 0x14},
		{"FrameHeartbeat", int(FrameHeartbeat), 0x20},
		{"FramePing", int(FramePing), 0x21},
		{"FramePong", int(FramePong), 0x22},
		{"pingLen", pingLen, 8},
		{"DataStart", int(DataStart), 0x30},
		{"DataRefused", int(DataRefused), 0x31},
		{"CodeAuthFailed", int(CodeAuthFailed), 1},
		{"CodeBadVersion", int(CodeBadVersion), 2},
		{"CodeProtocol", int(CodeProtocol), 3},
		{"CodeReplaced", int(CodeReplaced), 4},
		{"CodeShutdown", int(CodeShutdown), 5},
		{"CodeFull", int(CodeFull), 6},
		{"CodeIDInUse", int(CodeIDInUse), 8},
		{"CodeLockedOut", int(CodeLockedOut), 9},
		{"CodePortInUse", int(CodePortInUse), 10},
		{"CodePortNotAllowed", int(CodePortNotAllowed), 11},
		{"CodeNameTaken", int(CodeNameTaken), 12},
		{"CodeTooMany", int(CodeTooMany), 13},
		{"CodeBindFailed", int(CodeBindFailed), 14},
		{"CodeBadRequest", int(CodeBadRequest), 15},
		{"CodeTryLater", int(CodeTryLater), 16},
		{"CodeStaleSession", int(CodeStaleSession), 20},
		{"CodeBadMAC", int(CodeBadMAC), 21},
		{"CodeReplay", int(CodeReplay), 22},
		{"CodeNoTunnel", int(CodeNoTunnel), 23},
		{"CodeOverflow", int(CodeOverflow), 24},
		{"CodeTLSRequired", int(CodeTLSRequired), 7},
		{"MaxNameLen", MaxNameLen, 64},
		{"MaxTunnels", MaxTunnels, 64},
		{"MaxPool", MaxPool, 64},
		{"MaxWaiting", MaxWaiting, 1024},
		{"replayWindowSize", replayWindowSize, 8192},
		{"max Challenge", maxPayload[FrameChallenge], 32},
		{"max Auth", maxPayload[FrameAuth], 129},
		{"max AuthOK", maxPayload[FrameAuthOK], 49},
		{"authFlagTLSData", int(authFlagTLSData), 1},
		{"tlsHandshakeRecord", tlsHandshakeRecord, 0x16},
		{"max Error", maxPayload[FrameError], 257},
		{"max Register", maxPayload[FrameRegister], 67},
		{"max Registered", maxPayload[FrameRegistered], 325},
		{"max Refused", maxPayload[FrameRefused], 322},
		{"max NeedData", maxPayload[FrameNeedData], 4},
		{"max DialFailed", maxPayload[FrameDialFailed], 260},
		{"max Heartbeat", maxPayload[FrameHeartbeat], 0},
		{"max Ping", maxPayload[FramePing], 8},
		{"max Pong", maxPayload[FramePong], 8},
		{"frame types", len(maxPayload), 12},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	for got, want := range map[string]string{
		Magic:        "FRY\x00",
		labelClient:  "ferry v1 client auth",
		labelServer:  "ferry v1 server auth",
		labelSession: "ferry v1 session key",
		labelData:    "ferry v1 data header",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestGoldenBytes pins whole messages byte for byte.
func TestGoldenBytes(t *testing.T) {
	frame := func(typ byte, p []byte) []byte {
		var b bytes.Buffer
		if err := writeFrame(&b, typ, p); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var sid [16]byte
	for i := range sid {
		sid[i] = byte(i)
	}
	key := []byte("k")
	for _, c := range []struct {
		name string
		got  []byte
		want string // hex
	}{
		{"control preamble", preamble(KindControl), "46525900" + "01" + "01"},
		{"data preamble", preamble(KindData), "46525900" + "01" + "02"},
		{"heartbeat", frame(FrameHeartbeat, nil), "200000"},
		{"ping", frame(FramePing, []byte{0, 1, 2, 3, 4, 5, 6, 7}), "210008" + "0001020304050607"},
		{"pong", frame(FramePong, []byte{0, 1, 2, 3, 4, 5, 6, 7}), "220008" + "0001020304050607"},
		{"error locked out", frame(FrameError, encoder{}.u8(CodeLockedOut).str("wait")), "040006" + "09" + "04" + "77616974"},
		{"register web:6000", frame(FrameRegister, encoder{}.u16(6000).str("web")), "100006" + "1770" + "03" + "776562"},
		{"need data tunnel 7", frame(FrameNeedData, encoder{}.u32(7)), "130004" + "00000007"},
		{"registered", frame(FrameRegistered, encoder{}.u32(1).str("a").str("1.2.3.4:5")),
			"110010" + "00000001" + "01" + "61" + "09" + hex.EncodeToString([]byte("1.2.3.4:5"))},
		{"start", encoder{}.u8(DataStart).str("9.9.9.9:1"), "30" + "09" + hex.EncodeToString([]byte("9.9.9.9:1"))},
		{"data header", dataHeader{session: sid, tunnel: 2, seq: 3}.marshal(key),
			"46525900" + "01" + "02" + "000102030405060708090a0b0c0d0e0f" + "00000002" + "0000000000000003" +
				// HMAC-SHA256("k", "ferry v1 data header" || 001c || body), by Python's hmac.
				"c3a2e182ef4713a625f0a7dc5ba371b1100fd3cb169f6617ac4fa7eb132ab2bd"},
		// The MAC construction itself: HMAC-SHA256(key, label || len16 || part ...),
		// cross-checked with Python's hmac module.
		{"mac", mac([]byte("token"), labelClient, []byte{1}, []byte("id")),
			"605fbc4cf2c3947a17d89a9dd2813dc4bd3fcacf2413d487e739184d45e384f4"},
	} {
		if h := hex.EncodeToString(c.got); h != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, h, c.want)
		}
	}
}

func TestReadFrame(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      string // hex
		wantTyp byte
		wantLen int
		wantErr error
	}{
		{name: "heartbeat", in: "200000", wantTyp: FrameHeartbeat},
		{name: "need data", in: "13000400000001", wantTyp: FrameNeedData, wantLen: 4},
		{name: "unknown type", in: "7f0000", wantErr: ErrUnknownFrame},
		{name: "heartbeat with payload", in: "20000100", wantErr: ErrFrameTooLarge},
		{name: "oversized register", in: "10ffff", wantErr: ErrFrameTooLarge},
		{name: "truncated header", in: "13", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated payload", in: "130004000000", wantErr: io.ErrUnexpectedEOF},
		{name: "empty", in: "", wantErr: io.EOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(c.in)
			typ, p, err := readFrame(bytes.NewReader(b))
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err == nil && (typ != c.wantTyp || len(p) != c.wantLen) {
				t.Fatalf("got type %#x len %d, want %#x len %d", typ, len(p), c.wantTyp, c.wantLen)
			}
		})
	}
}

func TestReadPreamble(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      string
		want    byte
		wantErr error
	}{
		{"control", Magic + "\x01\x01", KindControl, nil},
		{"data", Magic + "\x01\x02", KindData, nil},
		{"http", "GET / HTTP/1.1\r\n", 0, ErrBadMagic},
		{"version 2", Magic + "\x02\x01", 0, ErrBadVersion},
		{"kind 9", Magic + "\x01\x09", 0, ErrBadKind},
		{"short", "FRY", 0, io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := readPreamble(strings.NewReader(c.in))
			if !errors.Is(err, c.wantErr) || k != c.want {
				t.Fatalf("got %d, %v; want %d, %v", k, err, c.want, c.wantErr)
			}
		})
	}
}

func TestDecoderRejectsTruncationAndTrailing(t *testing.T) {
	d := decoder{b: encoder{}.u16(1).str("abc")}
	if d.u16(); d.str() != "abc" || d.done() != nil {
		t.Fatal("round trip failed")
	}
	d = decoder{b: encoder{}.u16(1).str("abc").u8(0)}
	d.u16()
	d.str()
	if !errors.Is(d.done(), ErrMalformedFrame) {
		t.Fatal("trailing byte accepted")
	}
	d = decoder{b: []byte{5, 'a'}}
	d.str()
	if !errors.Is(d.done(), ErrMalformedFrame) {
		t.Fatal("truncated string accepted")
	}
}

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	if w.accept(0) {
		t.Error("seq 0 accepted")
	}
	for _, s := range []uint64{3, 1, 2} {
		if !w.accept(s) {
			t.Errorf("fresh %d refused", s)
		}
	}
	if w.accept(2) {
		t.Error("replayed 2 accepted")
	}
	for s := uint64(4); s < 3*replayWindowSize; s++ {
		w.accept(s)
	}
	if w.accept(5) {
		t.Error("seq far below the window accepted")
	}
	if len(w.seen) > 2*replayWindowSize+1 {
		t.Errorf("window holds %d entries; it must stay bounded", len(w.seen))
	}
}

// FuzzReadFrame feeds the frame reader and every payload decoder arbitrary
// bytes: nothing may panic, and a frame it accepts must re-encode to the
// same bytes.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{"200000", "13000400000001", "100006177003776562", "2100080001020304050607", "7f0000", "10ffff", "13", ""} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, p, err := readFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := writeFrame(&out, typ, p); err != nil {
			t.Fatalf("accepted frame does not re-encode: %v", err)
		}
		if !bytes.Equal(out.Bytes(), in[:out.Len()]) {
			t.Fatalf("re-encoded %x, read from %x", out.Bytes(), in)
		}
		d := decoder{b: p}
		switch typ {
		case FrameAuth:
			d.take(nonceLen)
			d.take(macLen)
			d.str()
		case FrameRegister:
			d.u16()
			d.str()
		case FrameRegistered:
			d.u32()
			d.str()
			d.str()
		case FrameRefused:
			d.u8()
			d.str()
			d.str()
		case FrameNeedData, FrameDialFailed:
			d.u32()
		case FramePing, FramePong:
			d.take(pingLen)
		case FrameError:
			d.u8()
			d.str()
		}
		d.done()
	})
}

func TestTimeoutErrorsAreNetErrors(t *testing.T) {
	for _, err := range []error{ErrIdleTimeout, ErrPeerTimeout} {
		var ne net.Error
		if !errors.As(fmt.Errorf("wrapped: %w", err), &ne) || !ne.Timeout() {
			t.Errorf("%v is not a net.Error timeout", err)
		}
	}
}
