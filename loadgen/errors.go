package loadgen

import "errors"

// The errors a workload or backend returns, for errors.Is.

// ErrMismatch means the streams one side saw differ from those the other
// side saw: a byte was lost, added, changed or reordered, or a stream did
// not end cleanly. An Idle echo that comes back different is one too.
var ErrMismatch = errors.New("loadgen: streams differ")

// ErrCorrupt means an echoed response differed from the request it answers:
// whatever sat between the load generator and the Echo changed, lost or
// reordered bytes. A run that sees it stops, since its figures are void.
var ErrCorrupt = errors.New("loadgen: echoed bytes differ from those sent")

// ErrTooManyErrors means more than one in a hundred of a workload's
// attempts (requests, connection cycles) failed in the measured period, or
// the very first attempt failed before any had succeeded, which is how a
// wrong address or a relay that is not ready shows. The error wraps the
// first failure seen, so errors.Is finds its cause (syscall.ECONNREFUSED,
// say) too.
var ErrTooManyErrors = errors.New("loadgen: too many failed attempts")

// ErrBadRequest means a Source was sent, or a Fetch was asked to send,
// something that is not a valid request.
var ErrBadRequest = errors.New("loadgen: bad source request")

// ErrFDLimit means an Idle workload needs more file descriptors than the
// process may open.
var ErrFDLimit = errors.New("loadgen: not enough file descriptors")
