package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
)

// Challenge-response with a shared token (docs/protocol.md, "Authentication").
// The token never crosses the wire: the server sends a fresh nonce, the client
// answers with an HMAC over both nonces and its id, and the server proves it
// knows the token too. A replayed answer fails because the next connection
// gets a new server nonce. Both sides then derive a session key that data
// connection headers are MACed with.
const (
	nonceLen = 32
	macLen   = sha256.Size
)

// Domain separation labels, so a MAC made for one purpose never verifies
// for another.
const (
	labelClient  = "ferry v1 client auth"
	labelServer  = "ferry v1 server auth"
	labelSession = "ferry v1 session key"
	labelData    = "ferry v1 data header"
)

func mac(key []byte, label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	for _, p := range parts {
		// Length-prefix every part so that no two part lists share an input.
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

func clientMAC(token string, serverNonce, clientNonce []byte, id string) []byte {
	return mac([]byte(token), labelClient, serverNonce, clientNonce, []byte(id))
}

func serverMAC(token string, serverNonce, clientNonce, sessionID []byte) []byte {
	return mac([]byte(token), labelServer, serverNonce, clientNonce, sessionID)
}

func sessionKey(token string, serverNonce, clientNonce []byte) []byte {
	return mac([]byte(token), labelSession, serverNonce, clientNonce)
}

// dataHeader is the fixed-size header opening a data connection.
type dataHeader struct {
	session [16]byte
	tunnel  uint32
	seq     uint64
}

func (h dataHeader) marshal(key []byte) []byte {
	b := make([]byte, 0, preambleLen+dataHeaderLen)
	b = append(b, preamble(KindData)...)
	body := h.body()
	b = append(b, body...)
	return append(b, mac(key, labelData, body)...)
}

func (h dataHeader) body() []byte {
	b := make([]byte, 0, 28)
	b = append(b, h.session[:]...)
	b = binary.BigEndian.AppendUint32(b, h.tunnel)
	return binary.BigEndian.AppendUint64(b, h.seq)
}

// parseDataHeader splits a received header (without the preamble); the MAC
// is checked by the caller, which knows the session key.
func parseDataHeader(b []byte) (h dataHeader, sum []byte) {
	copy(h.session[:], b[:16])
	h.tunnel = binary.BigEndian.Uint32(b[16:20])
	h.seq = binary.BigEndian.Uint64(b[20:28])
	return h, b[28:dataHeaderLen]
}

func (h dataHeader) verify(key, sum []byte) bool {
	return hmac.Equal(mac(key, labelData, h.body()), sum)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents a fatal error instead)
	return b
}

// replayWindow refuses data header sequence numbers seen before or older than
// the window. Data connections are dialled concurrently and may arrive out of
// order, so a plain "greater than the last" check would refuse honest ones.
type replayWindow struct {
	max  uint64
	seen map[uint64]struct{}
}

// replayWindowSize exceeds how far apart one session's data connections can
// arrive from the order of their sequence numbers, which they take as they
// are dialled: at most MaxTunnels*MaxPool pooled ones and maxDialers asked
// for are dialled at once.
const replayWindowSize = 8192

func (w *replayWindow) accept(seq uint64) bool {
	if seq == 0 || (w.max > replayWindowSize && seq <= w.max-replayWindowSize) {
		return false
	}
	if _, dup := w.seen[seq]; dup {
		return false
	}
	if w.seen == nil {
		w.seen = make(map[uint64]struct{})
	}
	w.seen[seq] = struct{}{}
	if seq > w.max {
		w.max = seq
	}
	if len(w.seen) > 2*replayWindowSize {
		for s := range w.seen {
			if w.max > replayWindowSize && s <= w.max-replayWindowSize {
				delete(w.seen, s)
			}
		}
	}
	return true
}
