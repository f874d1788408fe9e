package relay

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestRefusalRetried pins which tunnel refusals the client retries: those
// that can pass without a config change, and codes it does not know.
func TestRefusalRetried(t *testing.T) {
	for _, tc := range []struct {
		code  byte
		retry bool
	}{
		{CodePortInUse, true},
		{CodeTryLater, true},
		{CodePortNotAllowed, false},
		{CodeNameTaken, false},
		{CodeTooMany, false},
		{CodeBindFailed, false},
		{CodeBadRequest, false},
		{99, true}, // from a newer server
	} {
		if got := retriable(tc.code); got != tc.retry {
			t.Errorf("%s (%d): retried %v, want %v", codeText(tc.code), tc.code, got, tc.retry)
		}
	}
}

// TestBindRefusal: a public bind that may succeed later is refused with a
// code the client retries; a config problem with one it does not.
func TestBindRefusal(t *testing.T) {
	bind := func(errno syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", errno)}
	}
	for _, tc := range []struct {
		name string
		err  error
		want byte
	}{
		{"address in use", bind(syscall.EADDRINUSE), CodePortInUse},
		{"no free allowed port", fmt.Errorf("%w 6000-6010", errNoFreePort), CodePortInUse},
		{"out of fds", &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}, CodeTryLater},
		{"out of fds system-wide", &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("socket", syscall.ENFILE)}, CodeTryLater},
		{"DNS failing for now", &net.OpError{Op: "listen", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "bind.example", IsTemporary: true}}, CodeTryLater},
		{"DNS timeout", &net.OpError{Op: "listen", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "bind.example", IsTimeout: true}}, CodeTryLater},
		{"no such host", &net.OpError{Op: "listen", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "bind.example", IsNotFound: true}}, CodeBindFailed},
		{"address not local", bind(syscall.EADDRNOTAVAIL), CodeBindFailed},
		{"privileged port", bind(syscall.EACCES), CodeBindFailed},
	} {
		if got := bindRefusal(tc.err); got != tc.want {
			t.Errorf("%s: code %d (%s), want %d (%s)", tc.name, got, codeText(got), tc.want, codeText(tc.want))
		}
	}
}
