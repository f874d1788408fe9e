// Package pairs is the pair lifecycle shared by the goroutine-per-direction
// engines (gocopy, gocopybuf): everything about a relayed pair except how
// bytes are copied.
//
// A Set owns the live pairs of one engine, whether they came as TCP sockets
// through Relay or as relay.Streams (a TLS data connection, say) through
// RelayStreams; either way each side is a Stream underneath. It starts one
// goroutine per direction, each running the engine's CopyFunc; the Set turns
// a clean end into CloseWrite on the other side and any other end into a
// reset of both peers (Stream.Abort: SO_LINGER 0, then close), closes every
// side exactly once, reports the first error, runs the idle sweeper and
// keeps the counters every engine reports.
//
// A goroutine per direction learns of a peer's reset only by reading or
// writing that peer's socket. When the direction that reads it is blocked
// writing into a destination that does not read, and the other direction is
// blocked reading that destination, neither does. So on Linux the Set also
// runs a watcher (watch_linux.go): one goroutine and one epoll instance per
// Set, which takes the sockets of every pair that has relayed for
// WatchDelay (1 s; shorter pairs never cost it anything), asks them for
// errors alone, and aborts a pair with its socket's error (SO_ERROR) as the
// reactors do. Elsewhere there is no watcher, and such a pair waits for its
// destination to move, the idle timeout or Close.
//
// An engine is then little more than its copy loop:
//
//	func copyFn(dst, src relay.Stream, moved func(int64)) error {
//		if d, s := pairs.TCPConn(dst), pairs.TCPConn(src); d != nil && s != nil {
//			n, err := d.ReadFrom(s) // both plain TCP: the runtime may splice
//			moved(n)
//			return err
//		}
//		... // a copy through a buffer, calling moved per chunk
//	}
//
//	set, err := pairs.New(opts, copyFn) // fails only if epoll cannot be had
//	set.Relay(a, b, done)               // the Set implements relay.Engine
//	set.RelayStreams(sa, sb, done)      // and relay.StreamRelayer
//	defer set.Close()
package pairs
