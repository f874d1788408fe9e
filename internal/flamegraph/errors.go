package flamegraph

import "errors"

// Errors returned by Render, wrapped with detail; test for them with
// errors.Is.
var (
	// ErrUnknownSampleType means Options.SampleType names no sample type of
	// the profile. The message lists the types the profile has.
	ErrUnknownSampleType = errors.New("flamegraph: unknown sample type")
	// ErrInvalidOptions means a field of Options is out of range. The
	// message names the field.
	ErrInvalidOptions = errors.New("flamegraph: invalid options")
	// ErrInvalidProfile means the profile failed profile.CheckValid or is
	// nil.
	ErrInvalidProfile = errors.New("flamegraph: invalid profile")
)
