//go:build !unix

package relay

import "net"

// probeIdle cannot peek without blocking here; the watcher and TCP
// keepalive are the only checks.
func probeIdle(*net.TCPConn) bool { return true }
