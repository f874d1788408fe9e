package reactor

import "time"

// A wheel is one loop's idle timer: a coarse hashed timing wheel, so that the
// idle timeout costs no timer per pair and nothing per chunk but storing the
// time of the last byte moved.
//
// Time is cut into ticks of a quarter of the idle timeout (never under 5 ms,
// like the goroutine engines' sweeper). Each pair has exactly one entry, in
// the bucket of the first tick at or after its deadline, lastActive + idle.
// Activity does not move the entry: when its tick comes, the loop looks at
// the pair's real lastActive and either ends it or puts it back under its new
// deadline (lazy re-insertion), so a busy pair is looked at about once per
// idle timeout. An idle pair ends at its first tick boundary past the
// deadline: never early, at most one tick (a quarter) late. An ended pair's
// entry is not removed; its generation no longer matches and the sweep drops
// it.
//
// Deadlines are at most idle ahead of now, so ceil(idle/tick)+2 buckets never
// wrap onto a bucket that still holds the current round.
type wheel struct {
	tick    int64          // ns per tick
	buckets [][]wheelEntry // bucket t%len holds entries due at tick t
	next    int64          // first tick not yet swept
	spare   []wheelEntry   // an emptied bucket's array, reused
}

// A wheelEntry names a pair by its slot in the loop's table and the slot's
// generation, like an epoll event does.
type wheelEntry struct{ slot, gen uint32 }

// sweepTick is the wheel's tick for an idle timeout: a quarter of it, at
// least 5 ms, as relay.Options documents.
func sweepTick(idle time.Duration) time.Duration {
	return max(idle/4, 5*time.Millisecond)
}

// newWheel returns a wheel for the idle timeout; now is the loop's clock in
// ns.
func newWheel(idle time.Duration, now int64) *wheel {
	tick := int64(sweepTick(idle))
	n := (int64(idle)+tick-1)/tick + 2
	return &wheel{tick: tick, buckets: make([][]wheelEntry, n), next: now / tick}
}

// add files e under its deadline (ns on the loop's clock). The deadline is at
// most an idle timeout after the last sweep's now.
func (w *wheel) add(e wheelEntry, deadline int64) {
	t := max((deadline+w.tick-1)/w.tick, w.next)
	b := &w.buckets[t%int64(len(w.buckets))]
	*b = append(*b, e)
}

// until returns how long after now the next tick is due: 0 if it is already.
func (w *wheel) until(now int64) time.Duration {
	return time.Duration(max(w.next*w.tick-now, 0))
}

// advance sweeps every tick up to now, handing each entry filed there to
// visit, which ends the pair or adds it back under a later deadline. After a
// gap of more than a whole turn each bucket is swept once: visit looks at the
// pair itself, so an entry seen early is only put back.
func (w *wheel) advance(now int64, visit func(wheelEntry)) {
	last := now / w.tick
	if last < w.next {
		return
	}
	n := min(last-w.next+1, int64(len(w.buckets)))
	first := w.next
	w.next = last + 1 // before visiting, so add files re-inserted entries after now
	for t := first; t < first+n; t++ {
		i := t % int64(len(w.buckets))
		b := w.buckets[i]
		if len(b) == 0 {
			continue
		}
		w.buckets[i] = w.spare[:0]
		for _, e := range b {
			visit(e)
		}
		w.spare = b[:0]
	}
}
