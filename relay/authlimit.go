package relay

import (
	"net/netip"
	"sync"
	"time"
)

// maxLimitedAddrs bounds the addresses a failureLimiter tracks, so that a
// flood from many addresses cannot grow it without bound. Past it, an
// address with a full allowance is simply not recorded: such an address
// has nothing to remember.
const maxLimitedAddrs = 1 << 16

// A failureLimiter rate-limits failed authentications per source address
// with a token bucket: an address starts with burst tries, each failure
// spends one, and one comes back every period. An address with no tries
// left is refused before it is sent a challenge, so guessing tokens from
// one address runs at one guess per period, while other addresses (the
// real clients) are unaffected.
type failureLimiter struct {
	burst  float64
	period time.Duration
	now    func() time.Time // time.Now; tests move it

	mu    sync.Mutex
	addrs map[netip.Addr]*failBucket
}

type failBucket struct {
	tries float64
	last  time.Time // when tries was last brought up to date
}

func newFailureLimiter(burst int, period time.Duration) *failureLimiter {
	return &failureLimiter{burst: float64(burst), period: period, now: time.Now, addrs: make(map[netip.Addr]*failBucket)}
}

// allow says whether addr may try to authenticate now.
func (l *failureLimiter) allow(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[addr]
	if b == nil {
		return true
	}
	if l.refill(b) >= l.burst {
		delete(l.addrs, addr) // nothing left to remember
	}
	return b.tries >= 1
}

// nextTry says how long until addr earns its next try: 0 when it has one.
// The server tells a refused address this, so a person at a client with a
// wrong token learns when the server will listen again.
func (l *failureLimiter) nextTry(addr netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[addr]
	if b == nil || l.refill(b) >= 1 {
		return 0
	}
	return time.Duration((1 - b.tries) * float64(l.period))
}

// failed spends one of addr's tries. It reports whether that was the last,
// so the caller logs the moment an address becomes limited, once, rather
// than every refusal after it.
func (l *failureLimiter) failed(addr netip.Addr) (nowLimited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr)
	if b == nil {
		return false
	}
	if l.refill(b) >= 1 {
		b.tries--
	}
	return b.tries < 1
}

// bucket returns addr's bucket, made full if it had none; nil when the
// limiter tracks as many addresses as it may, none of them full.
func (l *failureLimiter) bucket(addr netip.Addr) *failBucket {
	if b := l.addrs[addr]; b != nil {
		return b
	}
	if len(l.addrs) >= maxLimitedAddrs {
		l.prune()
	}
	if len(l.addrs) >= maxLimitedAddrs {
		return nil
	}
	b := &failBucket{tries: l.burst, last: l.now()}
	l.addrs[addr] = b
	return b
}

// refill brings b up to date and returns its tries.
func (l *failureLimiter) refill(b *failBucket) float64 {
	now := l.now()
	b.tries = min(l.burst, b.tries+float64(now.Sub(b.last))/float64(l.period))
	b.last = now
	return b.tries
}

// prune forgets every address whose allowance has refilled.
func (l *failureLimiter) prune() {
	for a, b := range l.addrs {
		if l.refill(b) >= l.burst {
			delete(l.addrs, a)
		}
	}
}

// take spends one of addr's tries if it has one, and says whether it did:
// allow and failed in one step, for a limiter that rations something other
// than authentication (the server's warnings about junk).
func (l *failureLimiter) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr)
	if b == nil || l.refill(b) < 1 {
		return false
	}
	b.tries--
	return true
}
