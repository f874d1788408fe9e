package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The bucket layout is HDR-style log-linear: values below 2*histSub ns have a
// bucket each, and every power of two above that, [2^p, 2^(p+1)), is cut
// into histSub equal buckets. A bucket's width is therefore at most
// 1/histSub of its lower bound, and a value reported as the bucket's
// midpoint is off by at most half that: 1/(2*histSub) = 1/128 relative.
//
// The index of v >= 2*histSub is shift*histSub + v>>shift, where shift is
// how far v must move right to leave histSubBits+1 significant bits; v>>shift
// lies in [histSub, 2*histSub), so the octaves tile the index range without
// gaps, and the first octave continues the one-bucket-per-value range.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two: 64

	// histTopBits bounds the range: values up to 2^42-1 ns (about 73
	// minutes) are bucketed, which covers any latency worth measuring with
	// room to spare; larger ones are clamped into the top bucket.
	histTopBits = 42
	histTop     = 1<<histTopBits - 1

	// histBuckets is one per value below 2*histSub plus histSub for each
	// octave from 2^(histSubBits+1) to 2^histTopBits: 2368 buckets, 18.5 KiB.
	histBuckets = (histTopBits - histSubBits + 1) * histSub
)

// A Histogram records durations in fixed memory (about 19 KiB), reporting
// quantiles within a relative error of 1/128 (about 0.8 %) of the exact
// value. It keeps HDR-style log-linear buckets from 1 ns to 2^42 ns (about
// 73 minutes); a larger value counts in the top bucket and in Clamped, so its
// quantiles are only known to be at least that large, though Max and Mean
// still see it exactly. A duration of zero or less is recorded as 0.
//
// The zero value is an empty Histogram ready to use. It is not safe for
// concurrent use: give each goroutine its own and Merge them at the end,
// which keeps the hot path free of atomics and shared cache lines.
type Histogram struct {
	counts  [histBuckets]int64
	n       int64
	clamped int64
	// min and max are exact, in nanoseconds; they are meaningful only when
	// n > 0.
	min, max int64
	// sumHi:sumLo is the exact 128-bit sum of every recorded value in
	// nanoseconds, so Mean neither overflows nor rounds over long runs.
	sumHi, sumLo uint64
}

// NewHistogram returns an empty Histogram. It is the same as new(Histogram).
func NewHistogram() *Histogram { return new(Histogram) }

// histIndex returns the bucket of v, which must be in [0, histTop].
func histIndex(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 1 - histSubBits
	return shift*histSub + int(v>>shift)
}

// histBounds returns the lowest value in bucket i and the bucket's width.
func histBounds(i int) (lo, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i/histSub - 1
	return int64(i%histSub+histSub) << shift, 1 << shift
}

// Record adds one observation of d. A d of zero or less (a clock that
// stepped, say) is recorded as 0 rather than dropped, so Count still
// matches the number of events.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	i := histBuckets - 1
	if v <= histTop {
		i = histIndex(v)
	} else {
		h.clamped++
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if h.n == 0 || v > h.max {
		h.max = v
	}
	h.n++
	var carry uint64
	h.sumLo, carry = bits.Add64(h.sumLo, uint64(v), 0)
	h.sumHi += carry
}

// Merge adds every observation recorded in o to h, as if each had been
// recorded into h directly. o is not changed; a nil o adds nothing.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.clamped += o.clamped
	var carry uint64
	h.sumLo, carry = bits.Add64(h.sumLo, o.sumLo, 0)
	h.sumHi += o.sumHi + carry
}

// Count is how many observations were recorded.
func (h *Histogram) Count() int64 { return h.n }

// Clamped is how many observations were above the bucketed range (2^42 ns,
// about 73 minutes) and so were counted in the top bucket.
func (h *Histogram) Clamped() int64 { return h.clamped }

// Min is the smallest observation, exactly, or 0 when there is none.
func (h *Histogram) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest observation, exactly, or 0 when there is none.
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean is the exact arithmetic mean of the observations (rounded down to a
// nanosecond), or 0 when there is none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	// The mean is at most max, so the quotient fits in 64 bits, which is
	// what Div64 needs (sumHi < n).
	q, _ := bits.Div64(h.sumHi, h.sumLo, uint64(h.n))
	return time.Duration(q)
}

// nearestRank is the 1-based rank of the q-quantile among n sorted values:
// the smallest k with k >= q*n, at least 1.
func nearestRank(q float64, n int64) int64 {
	k := int64(math.Ceil(q * float64(n)))
	return min(max(k, 1), n)
}

// Quantile returns the q-quantile by nearest rank: the smallest recorded
// value v such that at least q*Count observations are <= v. It is reported
// as the midpoint of v's bucket, kept within [Min, Max], so it differs from
// the exact value by at most 1/128 of it (unless v was clamped). Quantile(0)
// is Min and Quantile(1) is Max, exactly; q outside [0, 1] is treated as the
// nearer end, and NaN as 0. An empty Histogram reports 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	switch {
	case h.n == 0:
		return 0
	case !(q > 0): // also NaN
		return h.Min()
	case q >= 1:
		return h.Max()
	}
	rank := nearestRank(q, h.n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		lo, width := histBounds(i)
		return time.Duration(min(max(lo+width/2, h.min), h.max))
	}
	return h.Max() // not reached: the counts add up to n
}
