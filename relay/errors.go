package relay

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers match with errors.Is. Context is added once, at the API edge.
var (
	ErrUnknownEngine        = errors.New("relay: unknown engine")
	ErrEngineClosed         = errors.New("relay: engine closed")
	ErrIdleTimeout    error = &timeoutError{"relay: idle timeout"}
	ErrServerClosed         = errors.New("relay: server closed")
	ErrBadMagic             = errors.New("relay: not a ferry connection (bad magic)")
	ErrBadVersion           = errors.New("relay: unsupported protocol version")
	ErrBadKind              = errors.New("relay: unknown connection kind")
	ErrFrameTooLarge        = errors.New("relay: frame too large")
	ErrUnknownFrame         = errors.New("relay: unknown frame type")
	ErrMalformedFrame       = errors.New("relay: malformed frame")
	ErrAuthFailed           = errors.New("relay: authentication failed")
	ErrPeerTimeout    error = &timeoutError{"relay: peer missed heartbeats"}
	ErrConfig               = errors.New("relay: invalid config")
)

// errReplaced ends a session that a newer one with the same client id took
// over: on the server, the old session's; on the client, when the server
// says so.
var errReplaced = errors.New("relay: replaced by a newer session with the same client id")

// errTooManyHandshakes: a source address already has its share of
// connections in their handshake, or the server has all it takes.
var errTooManyHandshakes = errors.New("relay: too many handshakes from one address")

// errTLSHello: a TLS ClientHello reached a server without TLS.
var errTLSHello = fmt.Errorf("%w: a TLS handshake, and this server has no TLS", ErrBadMagic)

// errNoFirstByte: a connection to a TLS server ended or stayed silent
// before the byte that tells TLS from plain.
var errNoFirstByte = errors.New("relay: no first byte")

// errServerFull: the server holds max_clients sessions and refused one more.
var errServerFull = errors.New("relay: server full (max_clients)")

// An opError is err with what the package was doing when it failed, saying
// "relay:" once: "relay: handshake: EOF", and for one of this package's own
// errors, whose text already starts with "relay: ", "relay: handshake: frame
// too large: ..." rather than "relay: handshake: relay: frame too large:
// ...". errors.Is and errors.As see err.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "relay: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "relay: ")
}

func (e *opError) Unwrap() error { return e.err }

// timeoutError is an error that satisfies net.Error with Timeout() true, so
// callers that handle network timeouts handle these too.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
