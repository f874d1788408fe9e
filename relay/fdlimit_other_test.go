//go:build !unix

package relay_test

func fdLimit() int { return 1 << 30 }
