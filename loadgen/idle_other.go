//go:build !unix

package loadgen

// fdRoom cannot read a descriptor limit here, so Idle.Hold does not check
// one and a dial that runs out of descriptors fails with its own error.
func fdRoom() (limit, open int, ok bool) { return 0, 0, false }
