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
	// ErrIDInUse: the server refused the session because a live client
	// already has this client id.
	ErrIDInUse = errors.New("relay: client id in use by a live client")
	// ErrLockedOut: the server refuses the source address for now, after
	// too many failed authentications from it.
	ErrLockedOut = errors.New("relay: locked out after failed logins")
	// ErrTunnelsRefused: the server refused every tunnel for a reason
	// retrying cannot fix.
	ErrTunnelsRefused = errors.New("relay: the server refused every tunnel")
)

// A ConfigError is a setting the user must change. Key names it in TOML
// spelling ("dial_timeout", "tunnels[1].local"); File is the TOML file being
// read when the error is in reading one. errors.Is(err, ErrConfig) holds, and
// Error reads "relay: invalid config: [FILE: ][KEY: ]what is wrong". A front
// end with its own names for keys (the ferry binary's flags) renders it with
// Message instead, which spells the other keys the text mentions its way.
type ConfigError struct {
	File string
	Key  string
	// Unset says the key is required and nothing set it, so a front end
	// can list every way to give it.
	Unset bool

	format string
	args   []any // keyRef args are other keys the message names
}

// keyRef is another key named in a ConfigError's message.
type keyRef string

func (e *ConfigError) Error() string {
	s := ErrConfig.Error() + ": "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Message(nil)
}

// Is makes every ConfigError an ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Message is what is wrong, without the file and key: other keys it names
// are spelled by spell, or as TOML keys when spell is nil.
func (e *ConfigError) Message(spell func(key string) string) string {
	args := make([]any, len(e.args))
	for i, a := range e.args {
		if k, ok := a.(keyRef); ok {
			a = string(k)
			if spell != nil {
				a = spell(string(k))
			}
		}
		args[i] = a
	}
	return fmt.Sprintf(e.format, args...)
}

// errReplaced ends a session that a newer one with the same client id took
// over: on the server, the old session's; on the client, when the server
// says so.
var errReplaced = errors.New("relay: replaced by a newer session with the same client id")

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
