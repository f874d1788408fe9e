// Package pairs is the pair lifecycle shared by the goroutine-per-direction
// engines (gocopy, gocopybuf): everything about a relayed pair except how
// bytes are copied.
//
// A Set owns the live pairs of one engine. Relay starts one goroutine per
// direction, each running the engine's CopyFunc; the Set turns a clean end
// into CloseWrite on the other socket and any other end into a reset of both
// peers (SO_LINGER 0, then close), closes every socket exactly once, reports
// the first error, runs the idle sweeper and keeps the counters every engine
// reports. An engine is then little more than its copy loop:
//
//	func copyFn(dst, src *net.TCPConn, moved func(int64)) error {
//		n, err := dst.ReadFrom(src)
//		moved(n)
//		return err
//	}
//
//	set := pairs.New(opts, copyFn)
//	set.Relay(a, b, done) // the Set implements relay.Engine
//	defer set.Close()
package pairs
