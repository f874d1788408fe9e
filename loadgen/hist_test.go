package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// histBound is the relative error Histogram promises for quantiles.
const histBound = 1.0 / 128

// histQuantiles are the quantiles every sample set is checked at.
var histQuantiles = []float64{0, 0.5, 0.9, 0.99, 0.999, 1}

// histSamples are sample sets with known shapes, each from a fixed seed.
var histSamples = []struct {
	name string
	gen  func(r *rand.Rand) []time.Duration
}{
	{name: "uniform_1us_10ms", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 100_000, func() float64 { return 1e3 + r.Float64()*(10e6-1e3) })
	}},
	{name: "exponential_mean_100us", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 100_000, func() float64 { return 5e3 + r.ExpFloat64()*100e3 })
	}},
	{name: "bimodal_50us_20ms", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 100_000, func() float64 {
			if r.IntN(10) == 0 {
				return 20e6 + r.NormFloat64()*1e6
			}
			return 50e3 + r.NormFloat64()*5e3
		})
	}},
	{name: "single_value", gen: func(r *rand.Rand) []time.Duration {
		return []time.Duration{1234567 * time.Nanosecond}
	}},
	{name: "one_value_repeated", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 1000, func() float64 { return 777_777 })
	}},
	{name: "seconds", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 10_000, func() float64 { return 1e9 + r.Float64()*59e9 })
	}},
	{name: "tiny_1_100ns", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 10_000, func() float64 { return float64(1 + r.IntN(100)) })
	}},
	{name: "log_uniform_1ns_1h", gen: func(r *rand.Rand) []time.Duration {
		return draw(r, 100_000, func() float64 { return math.Exp(r.Float64() * math.Log(float64(time.Hour))) })
	}},
}

// draw returns n samples of f, rounded to whole nanoseconds and at least 1.
func draw(r *rand.Rand, n int, f func() float64) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(max(math.Round(f()), 1))
	}
	return s
}

// exactQuantile is the nearest-rank quantile of sorted.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[nearestRank(q, int64(len(sorted)))-1]
}

func TestHistogramQuantiles(t *testing.T) {
	for _, tc := range histSamples {
		t.Run(tc.name, func(t *testing.T) {
			samples := tc.gen(rand.New(rand.NewPCG(1, 2)))
			h := NewHistogram()
			var sum int64
			for _, d := range samples {
				h.Record(d)
				sum += int64(d)
			}
			sorted := slices.Sorted(slices.Values(samples))
			if got := h.Count(); got != int64(len(samples)) {
				t.Errorf("Count = %d, want %d", got, len(samples))
			}
			if got, want := h.Min(), sorted[0]; got != want {
				t.Errorf("Min = %v, want %v", got, want)
			}
			if got, want := h.Max(), sorted[len(sorted)-1]; got != want {
				t.Errorf("Max = %v, want %v", got, want)
			}
			if got, want := h.Mean(), time.Duration(sum/int64(len(samples))); got != want {
				t.Errorf("Mean = %v, want %v", got, want)
			}
			for _, q := range histQuantiles {
				got, want := h.Quantile(q), exactQuantile(sorted, q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > histBound {
					t.Errorf("Quantile(%v) = %v, exact %v: relative error %.5f > %.5f", q, got, want, rel, histBound)
				}
			}
			if h.Quantile(0) != h.Min() || h.Quantile(1) != h.Max() {
				t.Errorf("Quantile(0), Quantile(1) = %v, %v; want Min %v, Max %v",
					h.Quantile(0), h.Quantile(1), h.Min(), h.Max())
			}
		})
	}
}

// TestHistogramBuckets checks the layout the error bound rests on: every
// value falls in a bucket that contains it, buckets are in value order, and
// no bucket is wider than 1/64 of its lower bound.
func TestHistogramBuckets(t *testing.T) {
	check := func(v int64) {
		t.Helper()
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, outside [0, %d)", v, i, histBuckets)
		}
		lo, width := histBounds(i)
		if v < lo || v >= lo+width {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, i, lo, lo+width)
		}
		if width > 1 && width*histSub > lo {
			t.Fatalf("bucket %d = [%d, %d) is wider than 1/%d of its start", i, lo, lo+width, histSub)
		}
	}
	for v := range int64(1 << 16) {
		check(v)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		check(r.Int64N(histTop + 1))
	}
	check(histTop)
	for i := 1; i < histBuckets; i++ {
		prevLo, prevWidth := histBounds(i - 1)
		if lo, _ := histBounds(i); lo != prevLo+prevWidth {
			t.Fatalf("bucket %d starts at %d, previous one ends at %d", i, lo, prevLo+prevWidth)
		}
	}
	if lo, width := histBounds(histBuckets - 1); lo+width-1 != histTop {
		t.Fatalf("top bucket ends at %d, want %d", lo+width-1, histTop)
	}
	if histTop < int64(time.Hour) {
		t.Fatalf("range ends at %v, want at least an hour", time.Duration(histTop))
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	all := NewHistogram()
	parts := []*Histogram{NewHistogram(), NewHistogram(), NewHistogram(), NewHistogram()}
	for i := range 50_000 {
		d := time.Duration(r.ExpFloat64() * 1e6)
		if i%1000 == 0 {
			d = 2 * time.Hour // clamped, to merge that count too
		}
		all.Record(d)
		parts[i%3].Record(d) // parts[3] stays empty
	}
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	merged.Merge(nil)
	if *merged != *all {
		t.Fatalf("merged parts differ from one histogram of everything: count %d vs %d, clamped %d vs %d",
			merged.Count(), all.Count(), merged.Clamped(), all.Clamped())
	}
	for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
		if got, want := merged.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	// Merging into an empty histogram takes min and max from the other.
	var empty Histogram
	empty.Merge(parts[1])
	if empty.Min() != parts[1].Min() || empty.Max() != parts[1].Max() {
		t.Errorf("merge into empty: min, max = %v, %v; want %v, %v",
			empty.Min(), empty.Max(), parts[1].Min(), parts[1].Max())
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram // the zero value is ready to use
	for _, q := range histQuantiles {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("empty Quantile(%v) = %v, want 0", q, got)
		}
	}
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Clamped() != 0 {
		t.Errorf("empty histogram: count %d, min %v, max %v, mean %v, clamped %d",
			h.Count(), h.Min(), h.Max(), h.Mean(), h.Clamped())
	}
}

func TestHistogramEdges(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		record               []time.Duration
		wantMin, wantMax     time.Duration
		wantP50              time.Duration
		wantClamped          int64
		wantMean             time.Duration
		wantQuantileOutRange bool // check q < 0, q > 1 and NaN
	}{
		{name: "zero_and_negative_record_as_0", record: []time.Duration{0, -5, -time.Hour},
			wantMin: 0, wantMax: 0, wantP50: 0, wantMean: 0},
		{name: "above_range_is_clamped_but_max_exact", record: []time.Duration{time.Millisecond, 3 * time.Hour, 100 * time.Hour},
			wantMin: time.Millisecond, wantMax: 100 * time.Hour, wantP50: 3 * time.Hour, wantClamped: 2,
			wantMean: (time.Millisecond + 103*time.Hour) / 3},
		{name: "one_ns", record: []time.Duration{1},
			wantMin: 1, wantMax: 1, wantP50: 1, wantMean: 1, wantQuantileOutRange: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			for _, d := range tc.record {
				h.Record(d)
			}
			if h.Count() != int64(len(tc.record)) {
				t.Errorf("Count = %d, want %d", h.Count(), len(tc.record))
			}
			if h.Min() != tc.wantMin || h.Max() != tc.wantMax || h.Mean() != tc.wantMean {
				t.Errorf("min, max, mean = %v, %v, %v; want %v, %v, %v",
					h.Min(), h.Max(), h.Mean(), tc.wantMin, tc.wantMax, tc.wantMean)
			}
			if h.Clamped() != tc.wantClamped {
				t.Errorf("Clamped = %d, want %d", h.Clamped(), tc.wantClamped)
			}
			// A clamped median is only known to be in the top bucket.
			got := h.Quantile(0.5)
			if tc.wantClamped > 0 {
				if lo, _ := histBounds(histBuckets - 1); got < time.Duration(lo) {
					t.Errorf("Quantile(0.5) = %v, want at least the top bucket, %v", got, time.Duration(lo))
				}
			} else if got != tc.wantP50 {
				t.Errorf("Quantile(0.5) = %v, want %v", got, tc.wantP50)
			}
			if tc.wantQuantileOutRange {
				if h.Quantile(-1) != h.Min() || h.Quantile(math.NaN()) != h.Min() || h.Quantile(2) != h.Max() {
					t.Errorf("out-of-range q: got %v, %v, %v", h.Quantile(-1), h.Quantile(math.NaN()), h.Quantile(2))
				}
			}
		})
	}
}

// TestHistogramMeanLarge records enough large values that a 64-bit sum of
// nanoseconds would overflow; the mean must stay exact.
func TestHistogramMeanLarge(t *testing.T) {
	h := NewHistogram()
	const n = 3_000_000
	d := time.Hour // n*d is about 1.1e19 ns, beyond math.MaxInt64
	for range n {
		h.Record(d)
	}
	h.Record(d + n + 1) // the sum is now (n+1)*(d+1)
	if got, want := h.Mean(), d+1; got != want {
		t.Errorf("Mean = %v, want %v", got, want)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	ds := draw(r, 1024, func() float64 { return r.ExpFloat64() * 100e3 })
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(ds[i%len(ds)])
	}
}
