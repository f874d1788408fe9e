package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// Series is one colour of bars: one value per group of the Bars it is in.
type Series struct {
	Name string
	// Values holds the bar value (the median) per group. Lo and Hi, when
	// not nil, hold the whisker ends per group (min and max over repeats);
	// a whisker is drawn where Lo < Hi.
	Values, Lo, Hi []float64
	// Missing, when not nil, marks groups that have no value: they are
	// drawn as a labelled gap, never as a bar of zero.
	Missing []bool
	// Labels, when not nil, replaces per group the text printed after a
	// bar (default: the value) or in a gap (default: "failed"); "" keeps
	// the default.
	Labels []string
	// Tips, when not nil, replaces per group the hover text (an SVG
	// <title>); "" keeps the default of group, series and value.
	Tips []string
}

// Bars is a horizontal bar chart: one row of bars per group (case names),
// one bar per series in each row, on one value axis.
type Bars struct {
	Title string
	// Unit names the axis, such as "MB/s".
	Unit string
	// Better, when set, is printed beside the unit: "higher is better".
	Better results.Better
	Groups []string
	// Sub, when not nil, is a second, smaller line under each group's name.
	Sub    []string
	Series []Series
	// Log asks for a logarithmic axis. It applies when some value is
	// positive; values at or below zero are drawn at the axis start.
	Log bool
	// Ref, when positive, draws a dashed reference line at that value,
	// labelled RefLabel.
	Ref      float64
	RefLabel string
	// Note is the footnote: one or more lines separated by "\n", wrapped to
	// the width of the chart.
	Note string
}

// Render writes b as a standalone SVG document.
func (b Bars) Render(w io.Writer) error {
	return Figure{Title: b.Title, Note: b.Note, Panels: []Bars{b}}.Render(w)
}

// A Figure is several Bars drawn one above the other in one SVG, on one
// value scale and with one legend, so that panels compare at a glance. Each
// panel's Title is its heading (not drawn when it equals the figure's);
// the axis unit is the first panel's; the panels' own Notes are ignored.
type Figure struct {
	Title  string
	Panels []Bars
	Note   string
}

// Layout in px. Text is monospace so that widths can be known without
// font metrics: a character is 0.6 em wide in common monospace fonts.
const (
	minWidth  = 900 // the figure grows beyond this only to keep labels whole
	minPlot   = 360 // narrowest value axis
	margin    = 12
	fontSize  = 12 // group names
	charW     = 0.6 * fontSize
	smallSize = 11 // value labels, ticks, legend
	smallW    = 0.6 * smallSize
	tinySize  = 10 // sub-labels and footnote
	tinyW     = 0.6 * tinySize
	titleSize = 16
	headSize  = 13
	barH      = 14 // one bar
	barGap    = 2  // between bars of a group
	groupPad  = 12 // between groups
	lineH     = 14 // a line of small text
	swatch    = 12 // legend colour square
)

// Colours: the Okabe–Ito palette, distinguishable with the common colour
// vision deficiencies; yellow last as it is faint on white.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#F0E442"}

const (
	failColor = "#B00020" // a gap labelled "failed…"
	gapColor  = "#666666" // any other gap, such as "not measured"
)

// Render writes f as a standalone SVG document.
func (f Figure) Render(w io.Writer) error {
	if err := f.validate(); err != nil {
		return err
	}
	_, err := w.Write(f.draw())
	return err
}

func (f Figure) validate() error {
	if len(f.Panels) == 0 {
		return errors.New("chart: figure has no panels")
	}
	for _, p := range f.Panels {
		n := len(p.Groups)
		if p.Sub != nil && len(p.Sub) != n {
			return fmt.Errorf("chart: %q: %d sub-labels for %d groups", p.Title, len(p.Sub), n)
		}
		for _, s := range p.Series {
			if len(s.Values) != n {
				return fmt.Errorf("chart: %q: series %q has %d values for %d groups", p.Title, s.Name, len(s.Values), n)
			}
			for _, l := range []int{len(s.Lo), len(s.Hi), len(s.Missing), len(s.Labels), len(s.Tips)} {
				if l != 0 && l != n {
					return fmt.Errorf("chart: %q: series %q has a per-group field of length %d for %d groups", p.Title, s.Name, l, n)
				}
			}
		}
	}
	return nil
}

// bar is one bar or gap as drawn: everything Series says about one group.
type bar struct {
	value, lo, hi float64
	whisker       bool
	missing       bool
	label, tip    string
}

func (s Series) bar(group string, i int) bar {
	b := bar{value: s.Values[i], missing: s.Missing != nil && s.Missing[i]}
	if !b.missing && !finite(b.value) {
		b.missing = true
		b.label = "n/a"
	}
	if !b.missing && s.Lo != nil && s.Hi != nil && finite(s.Lo[i]) && finite(s.Hi[i]) && s.Lo[i] < s.Hi[i] {
		b.lo, b.hi, b.whisker = s.Lo[i], s.Hi[i], true
	}
	if s.Labels != nil && s.Labels[i] != "" {
		b.label = s.Labels[i]
	}
	if b.label == "" {
		if b.missing {
			b.label = "failed"
		} else {
			b.label = formatValue(b.value)
		}
	}
	if s.Tips != nil && s.Tips[i] != "" {
		b.tip = s.Tips[i]
	} else {
		b.tip = group + " · " + s.Name + ": " + b.label
	}
	return b
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// draw lays out and writes the whole document. The body is drawn first so
// that the height is known for the <svg> element.
func (f Figure) draw() []byte {
	// Colours by series name, in order of first appearance.
	var names []string
	color := map[string]string{}
	for _, p := range f.Panels {
		for _, s := range p.Series {
			if _, ok := color[s.Name]; !ok {
				color[s.Name] = palette[len(names)%len(palette)]
				names = append(names, s.Name)
			}
		}
	}

	// Widths: group names left of the axis, value labels right of it.
	labelCol, valueCol := 0.0, 0.0
	var scaleVals []float64
	logWanted := false
	for _, p := range f.Panels {
		logWanted = logWanted || p.Log
		for i, g := range p.Groups {
			labelCol = max(labelCol, textW(g, charW))
			if p.Sub != nil {
				labelCol = max(labelCol, textW(p.Sub[i], tinyW))
			}
			for _, s := range p.Series {
				b := s.bar(g, i)
				if b.missing {
					continue
				}
				valueCol = max(valueCol, textW(b.label, smallW))
				scaleVals = append(scaleVals, b.value)
				if b.whisker {
					scaleVals = append(scaleVals, b.lo, b.hi)
				}
			}
		}
		if p.Ref > 0 {
			scaleVals = append(scaleVals, p.Ref)
		}
	}
	labelCol += 10
	valueCol += 10
	width := max(minWidth, math.Ceil(2*margin+labelCol+minPlot+valueCol))
	x0, x1 := margin+labelCol, width-margin-valueCol
	sc := newScale(scaleVals, logWanted, x0, x1)

	var b bytes.Buffer
	y := 0.0

	// Title and legend.
	y += 26
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" font-weight="bold">`, num(margin), num(y), titleSize)
	escape(&b, f.Title)
	b.WriteString("</text>\n")
	y += 12
	b.WriteString(`<g class="legend">` + "\n")
	x := float64(margin)
	for _, n := range names {
		w := swatch + 4 + textW(n, smallW) + 16
		if x > margin && x+w > width-margin {
			x = margin
			y += 18
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%d" height="%d" fill="%s"/>`, num(x), num(y), swatch, swatch, color[n])
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d">`, num(x+swatch+4), num(y+10), smallSize)
		escape(&b, n)
		b.WriteString("</text>\n")
		x += w
	}
	b.WriteString("</g>\n")
	y += swatch + 10

	for _, p := range f.Panels {
		y = f.drawPanel(&b, p, sc, color, width, y)
	}

	// Axis caption, under the last panel's tick labels.
	caption := f.Panels[0].Unit
	if f.Panels[0].Better != "" {
		caption += ", " + string(f.Panels[0].Better) + " is better"
	}
	if sc.log {
		caption += " (log scale)"
	}
	y += lineH
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">`, num((x0+x1)/2), num(y))
	escape(&b, caption)
	b.WriteString("</text>\n")
	y += 8

	// Footnote.
	if f.Note != "" {
		b.WriteString(`<g class="note" fill="#444444">` + "\n")
		for _, l := range wrap(f.Note, int((width-2*margin)/tinyW)) {
			y += lineH
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d">`, num(margin), num(y), tinySize)
			escape(&b, l)
			b.WriteString("</text>\n")
		}
		b.WriteString("</g>\n")
	}
	y += 10

	var out bytes.Buffer
	out.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="no"?>` + "\n")
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %s %s" font-family="monospace" font-size="%d">`+"\n",
		num(width), num(y), num(width), num(y), fontSize)
	out.WriteString("<title>")
	escape(&out, f.Title)
	out.WriteString("</title>\n")
	// An opaque background keeps the dark text readable on a dark-themed page.
	out.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	out.Write(b.Bytes())
	out.WriteString("</svg>\n")
	return out.Bytes()
}

// drawPanel draws one panel's heading, groups, grid and tick labels from
// y down, and returns the y below them.
func (f Figure) drawPanel(b *bytes.Buffer, p Bars, sc scale, color map[string]string, width, y float64) float64 {
	if p.Title != "" && p.Title != f.Title {
		y += 18
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%d" font-weight="bold">`, num(margin), num(y), headSize)
		escape(b, p.Title)
		b.WriteString("</text>\n")
		y += 6
	}
	ref := p.Ref > 0 && p.Ref >= sc.lo && p.Ref <= sc.hi
	if ref {
		y += lineH
	}
	top := y + 4

	// Group rows: heights first, so that the grid can go under the bars.
	type row struct{ top, h float64 }
	rows := make([]row, len(p.Groups))
	barsH := float64(max(1, len(p.Series)))*(barH+barGap) - barGap
	gy := top + groupPad/2
	for i := range p.Groups {
		h := max(barsH, fontSize+4)
		if p.Sub != nil && p.Sub[i] != "" {
			h = max(h, fontSize+4+lineH)
		}
		rows[i] = row{gy, h}
		gy += h + groupPad
	}
	bottom := gy - groupPad/2

	// Alternate group bands, then the grid.
	for i, r := range rows {
		if i%2 == 1 {
			fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#f3f3f3"/>`+"\n",
				num(margin), num(r.top-groupPad/2), num(width-2*margin), num(r.h+groupPad))
		}
	}
	scaleName := "linear"
	if sc.log {
		scaleName = "log"
	}
	fmt.Fprintf(b, `<g class="axis" data-scale="%s" stroke="#dddddd">`+"\n", scaleName)
	for _, t := range sc.ticks {
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(sc.px(t.v)), num(top), num(sc.px(t.v)), num(bottom))
	}
	base := sc.base()
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#777777"/>`+"\n", num(base), num(top), num(base), num(bottom))
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#777777"/>`+"\n", num(sc.x0), num(bottom), num(sc.x1), num(bottom))
	b.WriteString("</g>\n")

	for i, g := range p.Groups {
		r := rows[i]
		mid := r.top + r.h/2
		// The group's name, with its sub-label under it.
		nameY := mid + 4
		if p.Sub != nil && p.Sub[i] != "" {
			nameY = mid - 2
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" class="group"%s>`, num(sc.x0-8), num(nameY), attr("data-group", g))
		escape(b, g)
		b.WriteString("</text>\n")
		if p.Sub != nil && p.Sub[i] != "" {
			fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" font-size="%d" fill="#555555">`, num(sc.x0-8), num(nameY+lineH-2), tinySize)
			escape(b, p.Sub[i])
			b.WriteString("</text>\n")
		}

		bars := make([]bar, len(p.Series))
		allMissing := len(p.Series) > 0
		for j, s := range p.Series {
			bars[j] = s.bar(g, i)
			allMissing = allMissing && bars[j].missing && bars[j].label == bars[0].label
		}
		if allMissing {
			// One label for the whole row rather than one per series.
			drawGap(b, sc.x0+6, mid+4, g, "", bars[0].label, g+": "+bars[0].label)
			continue
		}
		by := mid - barsH/2
		for j, s := range p.Series {
			drawBar(b, sc, bars[j], g, s.Name, color[s.Name], by+float64(j)*(barH+barGap))
		}
	}

	if ref {
		x := sc.px(p.Ref)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444444" stroke-dasharray="4 3"/>`+"\n", num(x), num(top-2), num(x), num(bottom))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" font-size="%d" fill="#444444">`, num(x), num(top-4), smallSize)
		escape(b, p.RefLabel)
		b.WriteString("</text>\n")
	}

	// Tick labels.
	y = bottom + lineH
	fmt.Fprintf(b, `<g class="ticks" font-size="%d" fill="#333333" text-anchor="middle">`+"\n", smallSize)
	for _, t := range sc.ticks {
		fmt.Fprintf(b, `<text x="%s" y="%s" data-tick="%s">`, num(sc.px(t.v)), num(y), t.attr)
		escape(b, t.label)
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
	return y + 6
}

// drawBar draws one bar, or its gap, with its whisker, label and hover text,
// at vertical position y.
func drawBar(b *bytes.Buffer, sc scale, v bar, group, series, fill string, y float64) {
	mid := y + barH/2
	if v.missing {
		drawGap(b, sc.x0+6, mid+4, group, series, v.label, v.tip)
		return
	}
	b.WriteString("<g><title>")
	escape(b, v.tip)
	b.WriteString("</title>")
	base, end := sc.base(), sc.px(v.value)
	fmt.Fprintf(b, `<rect class="bar"%s%s data-value="%s" x="%s" y="%s" width="%s" height="%d" fill="%s"/>`,
		attr("data-group", group), attr("data-series", series), dataNum(v.value),
		num(min(base, end)), num(y), num(math.Abs(end-base)), barH, fill)
	right := max(base, end)
	if v.whisker {
		lo, hi := sc.px(v.lo), sc.px(v.hi)
		fmt.Fprintf(b, `<path class="whisker" d="M%s %sH%sM%s %sV%sM%s %sV%s" stroke="#1a1a1a" stroke-width="1.2" fill="none"/>`,
			num(lo), num(mid), num(hi), num(lo), num(mid-4), num(mid+4), num(hi), num(mid-4), num(mid+4))
		right = max(right, hi)
	}
	fmt.Fprintf(b, `<text class="value" x="%s" y="%s" font-size="%d">`, num(right+5), num(mid+4), smallSize)
	escape(b, v.label)
	b.WriteString("</text></g>\n")
}

// drawGap writes the label standing in for bars that have no value;
// series is "" when the label stands for the whole group.
func drawGap(b *bytes.Buffer, x, y float64, group, series, label, tip string) {
	c := gapColor
	if strings.HasPrefix(label, "failed") {
		c = failColor
	}
	b.WriteString("<g><title>")
	escape(b, tip)
	b.WriteString("</title>")
	fmt.Fprintf(b, `<text class="gap"%s%s x="%s" y="%s" font-size="%d" font-style="italic" fill="%s">`,
		attr("data-group", group), attr("data-series", series), num(x), num(y), smallSize, c)
	escape(b, label)
	b.WriteString("</text></g>\n")
}
