// Package gocopybuf is the "gocopybuf" engine: one goroutine per direction,
// each reading into a 64 KiB buffer and writing it out, a forced user-space
// copy.
//
// It is the control for package gocopy. io.Copy between two *net.TCPConn
// would splice on Linux (see gocopy), so this engine never hands the sockets
// to io.Copy or ReadFrom: it loops Read and Write itself, and every relayed
// byte crosses user space twice. gocopybuf_linux_test.go proves it: relaying N
// bytes adds at least N to the process's read(2) byte count (rchar in
// /proc/self/io) and copied_bytes equals N.
//
// The same loop relays relay.Streams (the engine implements
// relay.StreamRelayer), so a TLS data connection can be one side of a pair.
//
// Counters: the common ones (relay.Counter*) and
//
//	read_calls    Read calls on a source socket or Stream
//	write_calls   Write calls on a destination socket or Stream (each may be several write(2))
//	copied_bytes  bytes that went through a user-space buffer
//
// and the error watcher's (package pairs, Counter*): watched_sockets,
// unwatched_sockets, watcher_events, watcher_resets.
//
// Importing the package registers the engine:
//
//	import _ "github.com/ferry-tunnel/ferry/variants/gocopybuf"
//
//	e, err := relay.NewEngine("gocopybuf", relay.Options{})
//	if err != nil { ... }
//	defer e.Close()
//	e.Relay(a, b, func(r relay.Result) { log.Printf("%d/%d bytes: %v", r.AtoB, r.BtoA, r.Err) })
package gocopybuf
