package chart

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// escape writes s as XML character data, safe in text and in attribute
// values alike.
func escape(b *bytes.Buffer, s string) {
	xml.EscapeText(b, []byte(s)) // a bytes.Buffer does not fail
}

// attr returns ` name="value"` with value escaped.
func attr(name, value string) string {
	var b bytes.Buffer
	b.WriteString(" " + name + `="`)
	escape(&b, value)
	b.WriteString(`"`)
	return b.String()
}

// num formats a coordinate with at most two decimals and no trailing zeros.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// dataNum formats a value exactly, for a data attribute that tests and
// scripts can read back.
func dataNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// textW estimates the width of s in px, at w px per character.
func textW(s string, w float64) float64 { return float64(utf8.RuneCountInString(s)) * w }

// formatValue prints a measured value with about three significant digits
// and thousands separated: "1,234", "56.7", "8.90", "0.0123".
func formatValue(v float64) string {
	a := math.Abs(v)
	var d int
	switch {
	case a >= 100 || a == 0:
		d = 0
	case a >= 10:
		d = 1
	case a >= 1:
		d = 2
	default:
		d = int(-math.Floor(math.Log10(a))) + 2
	}
	return formatFixed(v, d)
}

// formatFixed prints v with d decimals and its integer part in groups of
// three digits separated by commas.
func formatFixed(v float64, d int) string {
	s := strconv.FormatFloat(v, 'f', d, 64)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
		if strings.Trim(s, "0.") == "" {
			sign = "" // no "-0"
		}
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// formatRatio prints a ratio such as "0.61×".
func formatRatio(r float64) string { return strconv.FormatFloat(r, 'f', 2, 64) + "×" }

// wrap splits text into its lines and each line at spaces into lines of at
// most width characters; a word longer than width is cut.
func wrap(text string, width int) []string {
	width = max(width, 10)
	var out []string
	for _, line := range strings.Split(text, "\n") {
		cur := ""
		for _, word := range strings.Fields(line) {
			for utf8.RuneCountInString(word) > width {
				if cur != "" {
					out = append(out, cur)
					cur = ""
				}
				r := []rune(word)
				out = append(out, string(r[:width]))
				word = string(r[width:])
			}
			switch {
			case cur == "":
				cur = word
			case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) <= width:
				cur += " " + word
			default:
				out = append(out, cur)
				cur = word
			}
		}
		out = append(out, cur)
	}
	return out
}
