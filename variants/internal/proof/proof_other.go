//go:build !linux

package proof

import "errors"

// ReadChars needs Linux's /proc/self/io; elsewhere ReadDuring skips.
func ReadChars() (int64, error) {
	return 0, errors.New("proof: read accounting needs Linux /proc/self/io")
}
