// Package epollcopy is the "epollcopy" engine: ferry's own epoll event loops
// (package variants/internal/reactor) in place of the Go runtime's
// netpoller, moving bytes through user-space buffers. It needs Linux, and is
// registered only there.
//
// Each pair's sockets are taken from the runtime (the fds duplicated, the
// *net.TCPConn closed) and added, edge-triggered, to the epoll set of one of
// N loops, each a goroutine locked to its OS thread: N is GOMAXPROCS unless
// the environment variable FERRY_EPOLL_LOOPS says otherwise (read when the
// engine is made; relay.Options has no engine-specific fields). There is no
// goroutine per pair. A chunk costs one read(2) into a 64 KiB buffer from the
// loop's pool and one write(2) out of it, plus the read(2) that returns
// EAGAIN and ends each wake-up; a pair holds a buffer only while bytes are in
// flight, so an idle pair holds none. docs/engines.md compares it with the
// other engines, syscall by syscall, with measurements.
//
// Counters: the common ones (relay.Counter*), the reactor's
//
//	loops          event loops
//	epoll_waits    epoll_wait calls
//	events         events returned by epoll_wait
//	stale_events   events for pairs already ended, dropped by generation
//	wakeups        eventfd writes by other goroutines (new pairs, Close)
//	eagain_reads   reads that found the source empty
//	eagain_writes  writes that found the destination full (backpressure)
//	budget_yields  turns ended on the per-turn byte cap with more to read
//
// and the copy's
//
//	read_calls      read(2) calls on source sockets
//	write_calls     write(2) calls on destination sockets
//	copied_bytes    bytes written out of user-space buffers
//	buffers_in_use  gauge: buffers holding bytes in flight now
//
// Importing the package registers the engine:
//
//	import _ "github.com/ferry-tunnel/ferry/variants/epollcopy"
//
//	e, err := relay.NewEngine("epollcopy", relay.Options{IdleTimeout: 5 * time.Minute})
//	if err != nil { ... }
//	defer e.Close()
//	e.Relay(a, b, func(r relay.Result) { log.Printf("%d/%d bytes: %v", r.AtoB, r.BtoA, r.Err) })
package epollcopy
