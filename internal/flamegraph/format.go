package flamegraph

import (
	"fmt"
	"strconv"
)

// formatValue prints v in the profile's unit, scaled for reading:
// "3.21 s", "1.50 MiB", "12 345".
func formatValue(v int64, unit string) string {
	switch unit {
	case "nanoseconds":
		return formatDuration(float64(v))
	case "microseconds":
		return formatDuration(float64(v) * 1e3)
	case "milliseconds":
		return formatDuration(float64(v) * 1e6)
	case "seconds":
		return formatDuration(float64(v) * 1e9)
	case "bytes":
		return formatBytes(v)
	case "count", "":
		return groupDigits(v)
	}
	return groupDigits(v) + " " + unit
}

func formatDuration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func formatBytes(v int64) string {
	const k = 1024
	if v < k && v > -k {
		return fmt.Sprintf("%d B", v)
	}
	f := float64(v)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= k
		if f < k && f > -k {
			return fmt.Sprintf("%.2f %s", f, u)
		}
	}
	return fmt.Sprintf("%.2f PiB", f/k)
}

// groupDigits prints v with a space between groups of three digits,
// "12 345", as the SI recommends for numbers read across locales.
func groupDigits(v int64) string {
	s := strconv.FormatInt(v, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return sign + string(out)
}
