//go:build !linux

package main

import "os/exec"

// setPdeathsig does nothing: only Linux can tie a child's life to its
// parent's. Cleanups still kill the processes tests start.
func setPdeathsig(*exec.Cmd) {}
