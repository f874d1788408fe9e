// Package reactor is the epoll multi-reactor that the epoll engines share:
// event loops on their own OS threads that relay pairs of sockets taken away
// from the Go runtime, with no goroutine per connection. An engine supplies
// only how one direction holds its bytes in flight (a Conduit and its Pool:
// BufferPool for epollcopy, a pipe for a splice engine); the loop, the pair
// state machine and the idle wheel are here, each in its own file:
// loop_linux.go, pair_linux.go, wheel.go, with the copy buffers in
// bufpool_linux.go and the socket takeover in takeover_linux.go. It builds
// on Linux only; elsewhere it holds nothing an engine could use.
//
// # Loops
//
// New starts N loops: Config.Loops, else the FERRY_EPOLL_LOOPS environment
// variable (LoopsEnv), else GOMAXPROCS. Each is a goroutine that calls
// runtime.LockOSThread and owns an epoll instance, an eventfd, a table of
// pairs and a conduit pool; nothing else is shared. Relay gives a new pair to
// the loop with the fewest live pairs, ties going round robin (see
// Engine.pick). Work from other goroutines (a new pair, Close) is appended to
// the loop's queue under a mutex and announced by an eventfd write, at most
// one write per wake-up; the loop waits in epoll_wait with no timeout unless
// a pair has work left from its byte cap (timeout 0) or an idle timeout is
// set and pairs are live (until the next idle tick). EINTR from epoll_wait is
// retried: the Go runtime sends signals to its threads.
//
// # Taking a socket from the runtime
//
// Relay duplicates each socket's fd with F_DUPFD_CLOEXEC inside
// SyscallConn().Control, sets the duplicate non-blocking and closes the
// *net.TCPConn, which drops only the runtime's fd and its netpoller
// registration: the socket lives on in the duplicate, with its queued bytes.
// The loop then adds the duplicate to its epoll set. TCPConn.File would not
// do: the *os.File it returns registers its duplicate with the runtime's
// poller, and File.Fd() puts the socket in blocking mode, for every fd that
// shares it.
//
// # Edge-triggered, on purpose
//
// Both sockets of a pair are added once with EPOLLIN|EPOLLOUT|EPOLLRDHUP|
// EPOLLET and never modified. Each direction caches "src readable" and "dst
// writable", set by events and cleared only by EAGAIN. Backpressure is then
// free: when dst says EAGAIN the direction simply stops reading src, keeps
// its one conduit of pending bytes, and resumes on dst's EPOLLOUT; src's
// receive buffer fills and TCP flow control stops the sender. Level
// triggering would report the unread src on every epoll_wait, so it would
// need an EPOLL_CTL_MOD to drop EPOLLIN at every EAGAIN and another to add it
// back (and the same for EPOLLOUT), two syscalls per stall. The price of edge
// triggering is that readiness must not be forgotten: a direction reads until
// EAGAIN, and one that stops early on its byte cap goes on the loop's ready
// list, because the bytes it left are already there and will raise no new
// edge.
//
// # Generations
//
// An event's 64-bit data is the pair's slot in the loop's table and which
// socket (low 32 bits: slot<<1|side) and the slot's generation (high 32
// bits). A pair that ends closes its fds and frees its slot, bumping the
// generation, possibly in the middle of a batch; a pair registered later in
// the same batch may get that slot and, if another goroutine's Relay
// duplicated its sockets after the close, the same fd numbers. Events left in
// the batch for the old pair carry the old generation and are dropped
// (stale_events), never delivered to the new one.
//
// # Buffers and the byte cap
//
// A direction takes a conduit from its loop's pool just before it reads and
// gives it back as soon as all it read has been written, so an idle pair
// holds no buffer and a stalled one holds one. Only an empty conduit is
// filled: EOF is therefore always met with nothing pending and becomes
// shutdown(SHUT_WR) on the other socket at once, and a splice conduit never
// has to guess whether EAGAIN meant "socket empty" or "pipe full". One turn
// of a direction reads at most the byte cap (Config.Budget, DefaultBudget
// 256 KiB) before the loop serves other pairs.
//
// # Ends
//
// EOF from one side becomes shutdown(SHUT_WR) on the other; the pair ends
// cleanly when both directions have done that. Any error (a reset, EPIPE, a
// failed shutdown, the idle timeout, Close) ends it at once: SO_LINGER 0 and
// close on both sockets, so both peers see a reset. Every fd is closed once,
// by the pair's end. done is called once per pair, on the loop's goroutine
// after the batch in which the pair ended, holding no lock: it may call
// Relay (which only queues), must not call Close (which waits for the loop),
// and should be quick, as the loop's other pairs wait for it.
//
// # Idle timeout
//
// With relay.Options.IdleTimeout set, each loop keeps a coarse timing wheel
// (wheel.go) with ticks of a quarter of the timeout (at least 5 ms): one
// entry per pair, no timer per pair, and activity costs a store of the loop's
// clock. The tick is epoll_wait's timeout.
//
// Usage, for an engine package:
//
//	func newEngine(opts relay.Options) (relay.Engine, error) {
//		return reactor.New(opts, reactor.Config{
//			Name:    "epollcopy",
//			NewPool: func() reactor.Pool { return reactor.NewBufferPool(reactor.DefaultBufferSize) },
//		})
//	}
package reactor
