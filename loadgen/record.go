package loadgen

import (
	"context"
	"sync"
)

// A record is the streams a backend has finished, in the order they ended,
// and a way to wait for more: what Sink and Source share.
type record[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // closed and replaced when items grows
}

func (r *record[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
	if r.changed != nil {
		close(r.changed)
	}
	r.changed = make(chan struct{})
}

// all returns a copy of the streams so far.
func (r *record[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.items...)
}

// wait blocks until at least n streams have ended, and returns all that
// have, or ctx's error.
func (r *record[T]) wait(ctx context.Context, n int) ([]T, error) {
	for {
		r.mu.Lock()
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		got, ch := len(r.items), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.all(), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}
