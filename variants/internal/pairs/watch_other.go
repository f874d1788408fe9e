//go:build !linux

package pairs

import "net"

// A watcher watches nothing outside Linux: a pair learns of a peer's reset
// only when one of its copies reads or writes that socket, so a reset on a
// side whose direction is blocked writing into a destination that does not
// read, while the other direction waits on that same destination, goes
// unseen until the destination moves, the idle timeout ends the pair, or
// the engine closes. The Linux watcher (watch_linux.go) has no portable
// equivalent in the standard library.
type watcher struct{}

func newWatcher() (*watcher, error) { return &watcher{}, nil }

// watch watches nothing: every socket counts as unwatched.
func (w *watcher) watch(id uint64, socks [2]*net.TCPConn) (failed int) { return len(socks) }

func (w *watcher) run(report func(id uint64, side int)) {}

func (w *watcher) taken() uint64 { return 0 }

func (w *watcher) close() {}

func takeSocketError(c *net.TCPConn) error { return nil }
