package relay

import (
	"testing"
	"time"
)

// TestBackoff: each wait lies in the upper half of a window that doubles
// from min up to max, and reset starts over.
func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	for i, window := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		window *= time.Millisecond
		for range 50 {
			c := b
			if d := c.next(); d < window/2 || d > window {
				t.Fatalf("step %d: wait %v outside [%v, %v]", i, d, window/2, window)
			}
		}
		b.next()
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}
