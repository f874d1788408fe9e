package chart

import (
	"math"
	"strconv"
)

// scale maps values to x positions between x0 and x1, linearly or by
// their logarithm, with tick marks at 1-2-5 steps.
type scale struct {
	log    bool
	lo, hi float64 // the axis range in data units; lo > 0 when log
	x0, x1 float64
	ticks  []tick
}

type tick struct {
	v     float64
	label string // as printed: "1,000"
	attr  string // plain, for a data attribute: "1000"
}

// minTickGap is the space wanted between neighbouring tick labels, in px.
const minTickGap = 12

// newScale returns a scale from x0 to x1 that holds every value in vals.
// A linear scale always includes zero; a log one is used when log is asked
// for and some value is positive, and spans whole decades.
func newScale(vals []float64, log bool, x0, x1 float64) scale {
	minPos, maxV := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if v > 0 {
			minPos = min(minPos, v)
		}
		maxV = max(maxV, v)
	}
	if log && maxV > 0 {
		return logScale(minPos, maxV, x0, x1)
	}
	return linearScale(vals, x0, x1)
}

// linearScale picks the smallest 1-2-5 step that gives about one tick per
// 70 px and leaves room between the labels.
func linearScale(vals []float64, x0, x1 float64) scale {
	lo, hi := 0.0, 0.0
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		hi = lo + 1
	}
	plot := x1 - x0
	target := max(2, math.Floor(plot/70))
	mant, exp := niceStep((hi - lo) / target)
	for {
		step := pow10(float64(mant), exp)
		kLo := int64(math.Floor(lo/step + 1e-9))
		kHi := int64(math.Ceil(hi/step - 1e-9))
		s := scale{lo: pow10(float64(kLo*int64(mant)), exp), hi: pow10(float64(kHi*int64(mant)), exp), x0: x0, x1: x1}
		widest := 0.0
		for k := kLo; k <= kHi; k++ {
			t := linearTick(k*int64(mant), exp)
			s.ticks = append(s.ticks, t)
			widest = max(widest, textW(t.label, smallW))
		}
		if kHi-kLo <= 1 || plot/float64(kHi-kLo) >= widest+minTickGap {
			return s
		}
		mant, exp = nextStep(mant, exp)
	}
}

// niceStep returns the smallest step of the form m×10^e, m in {1, 2, 5},
// that is at least raw.
func niceStep(raw float64) (mant, exp int) {
	exp = int(math.Floor(math.Log10(raw)))
	f := raw / math.Pow(10, float64(exp))
	switch {
	case f <= 1+1e-9:
		return 1, exp
	case f <= 2+1e-9:
		return 2, exp
	case f <= 5+1e-9:
		return 5, exp
	}
	return 1, exp + 1
}

func nextStep(mant, exp int) (int, int) {
	switch mant {
	case 1:
		return 2, exp
	case 2:
		return 5, exp
	}
	return 1, exp + 1
}

// pow10 returns m×10^e, dividing for negative e so that 3×10^-1 is the
// nearest float to 0.3 rather than 0.30000000000000004.
func pow10(m float64, e int) float64 {
	if e < 0 {
		return m / math.Pow(10, float64(-e))
	}
	return m * math.Pow(10, float64(e))
}

// linearTick is the tick at n×10^e.
func linearTick(n int64, e int) tick {
	v := pow10(float64(n), e)
	d := max(0, -e)
	return tick{v: v, label: formatFixed(v, d), attr: strconv.FormatFloat(v, 'f', d, 64)}
}

// logScale spans whole decades around [minPos, maxV], with ticks at 1, 2
// and 5 in each decade when their labels fit, else at powers of ten (every
// few decades if even those crowd).
func logScale(minPos, maxV, x0, x1 float64) scale {
	eLo := int(math.Floor(math.Log10(minPos)))
	eHi := int(math.Ceil(math.Log10(maxV)))
	if eHi <= eLo {
		eHi = eLo + 1
	}
	s := scale{log: true, lo: pow10(1, eLo), hi: pow10(1, eHi), x0: x0, x1: x1}
	decade := (x1 - x0) / float64(eHi-eLo)
	widest := max(textW(formatFixed(s.lo, max(0, -eLo)), smallW), textW(formatFixed(s.hi, 0), smallW), textW("500", smallW))
	mants := []int64{1, 2, 5}
	if decade*math.Log10(2) < widest+minTickGap {
		mants = []int64{1}
	}
	stride := max(1, int(math.Ceil((widest+minTickGap)/decade)))
	for e := eLo; e <= eHi; e++ {
		if len(mants) == 1 && (e-eLo)%stride != 0 {
			continue
		}
		for _, m := range mants {
			if e == eHi && m > 1 {
				break
			}
			s.ticks = append(s.ticks, linearTick(m, e))
		}
	}
	return s
}

// px returns the x position of v, clamped to the axis.
func (s scale) px(v float64) float64 {
	var f float64
	switch {
	case s.log && v <= s.lo:
		f = 0
	case s.log:
		f = (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	default:
		f = (v - s.lo) / (s.hi - s.lo)
	}
	return s.x0 + min(1, max(0, f))*(s.x1-s.x0)
}

// base returns where bars start: zero on a linear axis, the left end of a
// log one.
func (s scale) base() float64 {
	if s.log {
		return s.x0
	}
	return s.px(0)
}
