package pairs

import "time"

// SetWatchDelay sets how long s's pairs relay before the watcher takes their
// sockets, 0 for at once, in place of WatchDelay. It must be called before s
// relays its first pair.
func SetWatchDelay(s *Set, d time.Duration) { s.watchDelay = d }
