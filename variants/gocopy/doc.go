// Package gocopy is the "gocopy" engine: what plain io.Copy gives you, one
// goroutine per direction, each calling dst.ReadFrom(src).
//
// It is the baseline the other engines are measured against, and it is not
// a user-space copy: on Linux, (*net.TCPConn).ReadFrom from another
// *net.TCPConn moves the bytes with splice(2) through a pipe the Go runtime
// pools (net/splice_linux.go, internal/poll/splice_linux.go), so no byte is
// read into user space. gocopy_linux_test.go proves it: relaying N bytes adds
// about nothing to the process's read(2) byte count (rchar in /proc/self/io),
// where gocopybuf adds N. The forced user-space copy is package gocopybuf.
//
// With Options.IdleTimeout zero each direction is a single ReadFrom until EOF.
// With an idle timeout the engine must see bytes move, so each direction calls
// ReadFrom with an *io.LimitedReader of 64 KiB around the source socket, which
// the runtime still splices, and reports every chunk. A chunk only returns
// when full or at EOF, so a trickle of a few bytes a second would look idle;
// each chunk therefore also carries a read deadline of a quarter of the idle
// timeout, which ends the chunk early and lets the bytes it moved count.
// (A write blocked on a peer that drains less than a chunk per idle timeout
// still looks idle; every engine built on whole-chunk writes shares that.)
//
// The engine relays relay.Streams too (it implements relay.StreamRelayer), so
// that a TLS data connection can be one side of a pair. The runtime can only
// splice between two sockets, and a TLS connection's plaintext exists only in
// user space, so a pair given to RelayStreams is copied through pooled
// buffers instead, each direction a loop of Read and Write that reports
// every chunk as it is written (pairs.BufferedCopy.CopyLean): a 4 KiB buffer
// while the stream is quiet, 64 KiB while bytes keep coming, so an idle TLS
// pair does not hold 128 KiB of buffers on each side (gocopybuf, the control,
// holds 64 KiB per direction throughout). A Read returns whatever has
// arrived, so that loop needs no deadline for the idle timeout, and it sets
// none: a write deadline would corrupt a tls.Conn.
//
// Counters: the common ones (relay.Counter*) and
//
//	readfrom_calls  ReadFrom calls made, on pairs of TCP sockets
//	copied_bytes    bytes copied through a user-space buffer, on pairs of Streams
//
// and the error watcher's (package pairs, Counter*): watched_sockets,
// unwatched_sockets, watcher_events, watcher_resets.
//
// Importing the package registers the engine:
//
//	import _ "github.com/ferry-tunnel/ferry/variants/gocopy"
//
//	e, err := relay.NewEngine("gocopy", relay.Options{IdleTimeout: 5 * time.Minute})
//	if err != nil { ... }
//	defer e.Close()
//	e.Relay(a, b, func(r relay.Result) { log.Printf("%d/%d bytes: %v", r.AtoB, r.BtoA, r.Err) })
package gocopy
