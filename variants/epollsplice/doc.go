// Package epollsplice is the "epollsplice" engine: ferry's own epoll event
// loops (package variants/internal/reactor), as in epollcopy, moving bytes
// socket → pipe → socket with splice(2), so that no relayed byte passes
// through user space. It needs Linux, and is registered only there.
//
// The reactor is epollcopy's: N loops on locked OS threads (FERRY_EPOLL_LOOPS,
// else GOMAXPROCS), sockets taken from the runtime and added edge-triggered,
// no goroutine per pair. What this package supplies is the conduit that holds
// a direction's bytes in flight: a pipe from its loop's pool, sized with
// F_SETPIPE_SZ to FERRY_SPLICE_PIPE_SIZE bytes (default 1 MiB). A chunk is
// one splice(src → pipe) and one splice(pipe → dst), both with
// SPLICE_F_NONBLOCK|SPLICE_F_MOVE, plus the splice that returns EAGAIN and
// ends each wake-up. A direction holds a pipe only while bytes are parked in
// it, so an idle pair holds none; a pipe that still holds bytes when its pair
// is aborted is closed, never pooled.
//
// When a full-size pipe cannot be had (an unprivileged user over
// fs.pipe-user-pages-soft gets one-page pipes and EPERM from F_SETPIPE_SZ),
// the loop copies through the reactor's user-space buffers instead, as
// epollcopy does, and tries pipes again a second later; each conduit handed
// out that way is counted in copy_fallbacks, and the first is logged, once
// per engine, to relay.Options.Logger.
//
// Counters: the common ones (relay.Counter*), the reactor's (epoll_waits,
// events, stale_events, wakeups, eagain_reads, eagain_writes, budget_yields;
// see variants/epollcopy), and
//
//	splice_in_calls   splice(2) socket → pipe
//	splice_out_calls  splice(2) pipe → socket
//	spliced_bytes     bytes spliced out of pipes into destination sockets
//	copy_fallbacks    copy buffers handed out because no full-size pipe could be made
//	pipes_in_use      gauge: pipes holding bytes in flight now
//	read_calls, write_calls, copied_bytes, buffers_in_use
//	                  the fallback's copy, as epollcopy counts it
//
// Importing the package registers the engine:
//
//	import _ "github.com/ferry-tunnel/ferry/variants/epollsplice"
//
//	e, err := relay.NewEngine("epollsplice", relay.Options{IdleTimeout: 5 * time.Minute})
//	if err != nil { ... }
//	defer e.Close()
//	e.Relay(a, b, func(r relay.Result) { log.Printf("%d/%d bytes: %v", r.AtoB, r.BtoA, r.Err) })
package epollsplice
