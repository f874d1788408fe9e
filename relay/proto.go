package relay

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Wire constants. docs/protocol.md is the specification; this file mirrors
// it, and proto_test.go pins every value, so a change here is a protocol
// change and needs a new Version.
const (
	// Magic opens every connection to the server port.
	Magic = "FRY\x00"
	// Version is the protocol version this build speaks.
	Version byte = 1

	KindControl byte = 1 // a control connection follows the preamble
	KindData    byte = 2 // a data connection header follows the preamble

	preambleLen = len(Magic) + 2 // magic, version, kind
)

// Control frames: type u8, payload length u16 big endian, payload. Every type
// has a maximum payload length, checked before anything is allocated.
const (
	FrameChallenge  byte = 0x01 // S→C  nonce[32]
	FrameAuth       byte = 0x02 // C→S  client_nonce[32] mac[32] id_len u8 id
	FrameAuthOK     byte = 0x03 // S→C  session_id[16] server_mac[32]
	FrameError      byte = 0x04 // both code u8 msg_len u8 msg
	FrameRegister   byte = 0x10 // C→S  public_port u16 name_len u8 name
	FrameRegistered byte = 0x11 // S→C  tunnel_id u32 name_len u8 name addr_len u8 addr
	FrameRefused    byte = 0x12 // S→C  code u8 name_len u8 name msg_len u8 msg
	FrameNeedData   byte = 0x13 // S→C  tunnel_id u32
	FrameDialFailed byte = 0x14 // C→S  tunnel_id u32 msg_len u8 msg
	FrameHeartbeat  byte = 0x20 // both (empty)
	FramePing       byte = 0x21 // S→C  nonce[8]: answer with Pong at once
	FramePong       byte = 0x22 // C→S  nonce[8], the Ping's

	frameHeaderLen = 3
	pingLen        = 8 // Ping and Pong's nonce
)

// AuthOK over TLS carries one more byte, flags; over plain TCP it has none.
const authFlagTLSData byte = 1 << 0 // data connections must use TLS

// Data connections: after the preamble, a fixed-size header; the server then
// answers, on the same connection and only once a public connection needs it,
// with a data message: type u8, len u8, body.
const (
	DataStart   byte = 0x30 // S→C  peer_addr (len bytes): relay starts after it
	DataRefused byte = 0x31 // S→C  code u8 (len = 1): the header was refused

	// Header: session_id[16] tunnel_id u32 seq u64 mac[32].
	dataHeaderLen = 16 + 4 + 8 + 32
)

// Error and refusal codes carried in FrameError, FrameRefused and DataRefused.
const (
	CodeAuthFailed     byte = 1  // FrameError: wrong token
	CodeBadVersion     byte = 2  // FrameError: version not spoken here
	CodeProtocol       byte = 3  // FrameError: malformed or unexpected frame
	CodeReplaced       byte = 4  // FrameError: a newer session with this client id took over
	CodeShutdown       byte = 5  // FrameError: the server is shutting down
	CodeFull           byte = 6  // FrameError: the server holds max_clients sessions; try again later
	CodeTLSRequired    byte = 7  // FrameError, DataRefused: this server takes that connection over TLS only
	CodeIDInUse        byte = 8  // FrameError: a live session holds this client id (it answered a Ping)
	CodeLockedOut      byte = 9  // FrameError: the source address is out of authentication tries for now
	CodePortInUse      byte = 10 // FrameRefused
	CodePortNotAllowed byte = 11 // FrameRefused
	CodeNameTaken      byte = 12 // FrameRefused: another client id holds the name
	CodeTooMany        byte = 13 // FrameRefused: tunnel limit per client
	CodeBindFailed     byte = 14 // FrameRefused: any other bind error
	CodeBadRequest     byte = 15 // FrameRefused: duplicate or invalid registration
	CodeTryLater       byte = 16 // FrameRefused: the server is short of fds or memory, or its DNS failed
	CodeStaleSession   byte = 20 // DataRefused: no live session with that id
	CodeBadMAC         byte = 21 // DataRefused: proof does not verify
	CodeReplay         byte = 22 // DataRefused: sequence number seen or too old
	CodeNoTunnel       byte = 23 // DataRefused: the session has no such tunnel
	CodeOverflow       byte = 24 // DataRefused: the tunnel's pool is full
)

// maxPayload bounds each frame type's payload. A type missing here is
// unknown.
var maxPayload = map[byte]int{
	FrameChallenge:  nonceLen,
	FrameAuth:       nonceLen + macLen + 1 + MaxNameLen,
	FrameAuthOK:     16 + macLen + 1, // the last byte, flags, only over TLS
	FrameError:      2 + 255,
	FrameRegister:   3 + MaxNameLen,
	FrameRegistered: 4 + 1 + MaxNameLen + 1 + 255,
	FrameRefused:    2 + MaxNameLen + 1 + 255,
	FrameNeedData:   4,
	FrameDialFailed: 4 + 1 + 255,
	FrameHeartbeat:  0,
	FramePing:       pingLen,
	FramePong:       pingLen,
}

// writeFrame writes one frame in a single write.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	if max, ok := maxPayload[typ]; !ok || len(payload) > max {
		return fmt.Errorf("%w: type %#x, %d bytes", ErrFrameTooLarge, typ, len(payload))
	}
	buf := make([]byte, frameHeaderLen+len(payload))
	buf[0] = typ
	binary.BigEndian.PutUint16(buf[1:], uint16(len(payload)))
	copy(buf[frameHeaderLen:], payload)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame, refusing unknown types and payloads over the
// type's limit before allocating.
func readFrame(r io.Reader) (typ byte, payload []byte, err error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	typ = h[0]
	n := int(binary.BigEndian.Uint16(h[1:]))
	max, ok := maxPayload[typ]
	if !ok {
		return typ, nil, fmt.Errorf("%w: %#x", ErrUnknownFrame, typ)
	}
	if n > max {
		return typ, nil, fmt.Errorf("%w: type %#x, %d bytes, limit %d", ErrFrameTooLarge, typ, n, max)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return typ, nil, err
	}
	return typ, payload, nil
}

// encoder and decoder build and take apart payloads; decoding fails on
// truncation or trailing bytes, so a malformed frame never yields a value.
type encoder []byte

func (e encoder) u8(v byte) encoder    { return append(e, v) }
func (e encoder) u16(v uint16) encoder { return binary.BigEndian.AppendUint16(e, v) }
func (e encoder) u32(v uint32) encoder { return binary.BigEndian.AppendUint32(e, v) }
func (e encoder) raw(b []byte) encoder { return append(e, b...) }

// str appends a u8 length and the string, cut to 255 bytes (callers bound
// names earlier; only free-text messages are ever cut).
func (e encoder) str(s string) encoder {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(e, byte(len(s))), s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated", ErrMalformedFrame)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) str() string { return string(d.take(int(d.u8()))) }

// done reports the first error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformedFrame, len(d.b))
	}
	return d.err
}

// preamble returns the bytes that open a connection of the given kind.
func preamble(kind byte) []byte {
	return append([]byte(Magic), Version, kind)
}

// readPreamble reads and checks the preamble, returning the kind.
func readPreamble(r io.Reader) (byte, error) {
	var p [preambleLen]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return 0, err
	}
	if string(p[:len(Magic)]) != Magic {
		if p[0] == tlsHandshakeRecord {
			return 0, errTLSHello
		}
		return 0, ErrBadMagic
	}
	if v := p[len(Magic)]; v != Version {
		return 0, fmt.Errorf("%w: peer speaks %d, this build %d", ErrBadVersion, v, Version)
	}
	switch k := p[len(Magic)+1]; k {
	case KindControl, KindData:
		return k, nil
	default:
		return 0, fmt.Errorf("%w: %d", ErrBadKind, k)
	}
}

// codeText explains a code to a user.
func codeText(code byte) string {
	switch code {
	case CodeAuthFailed:
		return "authentication failed (wrong token?)"
	case CodeBadVersion:
		return "protocol version not supported"
	case CodeProtocol:
		return "protocol error"
	case CodeReplaced:
		return "replaced by a newer session with the same client id"
	case CodeShutdown:
		return "server shutting down"
	case CodeFull:
		return "server full (max_clients sessions)"
	case CodeTLSRequired:
		return "TLS required"
	case CodeIDInUse:
		return "client id in use by a live client"
	case CodeLockedOut:
		return "address locked out after failed logins"
	case CodePortInUse:
		return "public port in use"
	case CodePortNotAllowed:
		return "public port not allowed by the server"
	case CodeNameTaken:
		return "tunnel name taken by another client"
	case CodeTooMany:
		return "too many tunnels for this client"
	case CodeBindFailed:
		return "server could not open the public port"
	case CodeBadRequest:
		return "invalid registration"
	case CodeTryLater:
		return "server cannot open a public port for now"
	case CodeStaleSession:
		return "no live session (stale data connection)"
	case CodeBadMAC:
		return "data connection proof does not verify"
	case CodeReplay:
		return "data connection header replayed"
	case CodeNoTunnel:
		return "no such tunnel in this session"
	case CodeOverflow:
		return "tunnel pool full"
	}
	return fmt.Sprintf("code %d", code)
}
