package reactor

import (
	"testing"
	"time"
)

// A fake loop for the wheel: pairs by slot, each with its last activity, and
// the same visit the loop uses (end if idle, else file again).
type wheelHarness struct {
	t          *testing.T
	w          *wheel
	idle       int64
	lastActive map[uint32]int64
	ended      map[uint32]int64 // slot -> the now at which it ended
}

func newWheelHarness(t *testing.T, idle time.Duration) *wheelHarness {
	return &wheelHarness{
		t: t, w: newWheel(idle, 0), idle: int64(idle),
		lastActive: map[uint32]int64{}, ended: map[uint32]int64{},
	}
}

func (h *wheelHarness) add(slot uint32, now int64) {
	h.lastActive[slot] = now
	h.w.add(wheelEntry{slot: slot}, now+h.idle)
}

func (h *wheelHarness) advance(now int64) {
	h.w.advance(now, func(e wheelEntry) {
		last, ok := h.lastActive[e.slot]
		if !ok {
			return // ended earlier: a stale entry
		}
		if now-last >= h.idle {
			h.ended[e.slot] = now
			delete(h.lastActive, e.slot)
			return
		}
		h.w.add(e, last+h.idle)
	})
}

// An idle entry ends at the first tick boundary at or after its deadline:
// never before, at most a tick late. A pair active in the meantime is filed
// again under its new deadline, as often as it takes.
func TestWheelDeadlines(t *testing.T) {
	const idle = 200 * time.Millisecond
	tick := int64(sweepTick(idle))
	if tick != int64(50*time.Millisecond) {
		t.Fatalf("tick %v, want a quarter of %v", time.Duration(tick), idle)
	}
	h := newWheelHarness(t, idle)
	h.add(1, 0)                                // idle from the start
	h.add(2, int64(30*time.Millisecond))       // idle, deadline mid-tick
	h.add(3, 0)                                // active until 500 ms, then idle
	h.add(4, int64(7*time.Millisecond+123456)) // idle, odd start
	step := int64(time.Millisecond)
	for now := int64(0); now <= int64(2*time.Second); now += step {
		if now <= int64(500*time.Millisecond) {
			if _, ok := h.lastActive[3]; ok {
				h.lastActive[3] = now // activity only stores the time
			}
		}
		h.advance(now)
	}
	for _, tc := range []struct {
		slot       uint32
		lastActive int64
	}{
		{slot: 1, lastActive: 0},
		{slot: 2, lastActive: int64(30 * time.Millisecond)},
		{slot: 3, lastActive: int64(500 * time.Millisecond)},
		{slot: 4, lastActive: int64(7*time.Millisecond + 123456)},
	} {
		at, ok := h.ended[tc.slot]
		if !ok {
			t.Errorf("slot %d never ended", tc.slot)
			continue
		}
		deadline := tc.lastActive + h.idle
		if at < deadline {
			t.Errorf("slot %d ended at %v, before its deadline %v", tc.slot, time.Duration(at), time.Duration(deadline))
		}
		if at > deadline+tick {
			t.Errorf("slot %d ended at %v, more than a tick (%v) after its deadline %v", tc.slot, time.Duration(at), time.Duration(tick), time.Duration(deadline))
		}
	}
}

// until says when the next tick is due, so a loop can sleep exactly that.
func TestWheelUntil(t *testing.T) {
	w := newWheel(time.Second, 0) // 250 ms ticks
	if got := w.until(0); got != 0 {
		t.Errorf("until(0) = %v, want 0: tick 0 is due", got)
	}
	w.advance(int64(10*time.Millisecond), func(wheelEntry) {})
	if got, want := w.until(int64(10*time.Millisecond)), 240*time.Millisecond; got != want {
		t.Errorf("until(10ms) = %v, want %v", got, want)
	}
}

// After a gap longer than a whole turn of the wheel (a loop that slept with
// no live pairs), every entry is still visited, once per bucket, and the ones
// now idle end.
func TestWheelLongGap(t *testing.T) {
	const idle = 100 * time.Millisecond
	h := newWheelHarness(t, idle)
	for s := range uint32(50) {
		h.add(s, int64(s)*int64(time.Millisecond))
	}
	visits := 0
	h.w.advance(int64(time.Hour), func(e wheelEntry) {
		visits++
		delete(h.lastActive, e.slot)
	})
	if visits != 50 {
		t.Errorf("a sweep after an hour visited %d entries, want all 50 once", visits)
	}
	// The wheel keeps working from the new time.
	h.add(99, int64(time.Hour))
	h.advance(int64(time.Hour + time.Second))
	if _, ok := h.ended[99]; !ok {
		t.Errorf("an entry filed after the gap did not end")
	}
}
