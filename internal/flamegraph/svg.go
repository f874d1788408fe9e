package flamegraph

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

// Layout in px. Everything is drawn with plain SVG 1.1 elements and no
// script: GitHub and most viewers show an SVG as an image, where scripts
// never run and tooltips often do not show, so the labels on the frames
// carry the reading; the <title> tooltips help when the file is opened on
// its own in a browser.
const (
	margin     = 10  // left and right of the frames, below the root
	headerH    = 66  // title, subtitle and legend rows above the frames
	rowH       = 16  // one stack level; rects are one px shorter to leave a gap
	fontSize   = 12  // monospace, for frame labels
	charW      = 7.2 // advance of one monospace character at 12 px (0.6 em)
	labelPad   = 3   // text inset from the left edge of its rect
	minLabel   = 3   // fewest characters worth printing in a frame
	emptyBodyH = 40  // space for the "no samples" line
)

// graph is everything Render needs to draw.
type graph struct {
	opts          Options
	sampleType    profile.ValueType
	root          *node // nil when the profile has no sample types
	samples       int64 // value of the "samples" type, if hasSamples
	hasSamples    bool
	durationNanos int64
}

// frame is a node placed in the drawing.
type frame struct {
	n     *node
	x, w  float64
	depth int // 0 for the root
}

// layout places every frame at least o.MinWidth px wide, depth first with
// siblings sorted by name, and returns them with the deepest level drawn.
// The root is always placed. x positions come from integer running sums so
// that siblings tile their parent exactly.
func (g *graph) layout() (frames []frame, maxDepth int) {
	drawW := float64(g.opts.Width) - 2*margin
	total := float64(g.root.value)
	var walk func(n *node, offset int64, depth int)
	walk = func(n *node, offset int64, depth int) {
		w := float64(n.value) / total * drawW
		if depth > 0 && w < g.opts.MinWidth {
			return
		}
		frames = append(frames, frame{n: n, x: margin + float64(offset)/total*drawW, w: w, depth: depth})
		maxDepth = max(maxDepth, depth)
		for _, c := range n.sortedChildren() {
			walk(c, offset, depth+1)
			offset += c.value
		}
	}
	walk(g.root, 0, 0)
	return frames, maxDepth
}

func (g *graph) write(w io.Writer) error {
	// bufio.Writer keeps the first write error and returns it from Flush,
	// so the drawing code below need not check each write.
	b := bufio.NewWriter(w)
	empty := g.root == nil || g.root.value == 0
	var frames []frame
	maxDepth := 0
	height := headerH + emptyBodyH
	if !empty {
		frames, maxDepth = g.layout()
		height = headerH + (maxDepth+1)*rowH + margin
	}
	width := g.opts.Width
	mid := num(float64(width) / 2)

	fmt.Fprintf(b, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`+"\n")
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" font-family="monospace" font-size="%d">`+"\n",
		width, height, width, height, fontSize)
	b.WriteString("<style>.frames g:hover rect{stroke:#000;stroke-width:0.5}</style>\n")
	// An opaque background keeps black text readable on a dark-themed page.
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	fmt.Fprintf(b, `<text x="%s" y="22" text-anchor="middle" font-size="16" font-weight="bold">`, mid)
	escape(b, g.opts.Title)
	b.WriteString("</text>\n")
	fmt.Fprintf(b, `<text x="%s" y="40" text-anchor="middle">`, mid)
	escape(b, g.subtitle())
	b.WriteString("</text>\n")

	if empty {
		fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle" fill="#666666">no samples</text>`+"\n", mid, headerH+emptyBodyH/2)
		b.WriteString("</svg>\n")
		return b.Flush()
	}

	g.writeLegend(b, frames)
	b.WriteString(`<g class="frames">` + "\n")
	total := float64(g.root.value)
	for _, f := range frames {
		y := headerH + (maxDepth-f.depth)*rowH
		b.WriteString("<g><title>")
		escape(b, fmt.Sprintf("%s (%s, %.2f%%)", f.n.name, formatValue(f.n.value, g.sampleType.Unit), float64(f.n.value)/total*100))
		fmt.Fprintf(b, `</title><rect x="%s" y="%d" width="%s" height="%d" fill="%s" rx="2"/>`,
			num(f.x), y, num(f.w), rowH-1, frameColor(f.n.name, f.depth == 0))
		if label := truncate(shortName(f.n.name), int((f.w-2*labelPad)/charW)); label != "" {
			fmt.Fprintf(b, `<text x="%s" y="%d">`, num(f.x+labelPad), y+fontSize)
			escape(b, label)
			b.WriteString("</text>")
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Flush()
}

// subtitle describes the drawn value, e.g.
// "cpu: 3.21 s total, 12 345 samples, duration 10.00 s".
func (g *graph) subtitle() string {
	if g.root == nil {
		return "no sample types"
	}
	s := g.sampleType.Type + ": "
	if g.root.value == 0 {
		return s + "no samples"
	}
	s += formatValue(g.root.value, g.sampleType.Unit) + " total"
	if g.hasSamples {
		s += ", " + groupDigits(g.samples) + " samples"
	}
	if g.durationNanos > 0 {
		s += ", duration " + formatDuration(float64(g.durationNanos))
	}
	return s
}

// writeLegend draws one swatch per package family present among frames, in
// a fixed order, left-aligned under the subtitle.
func (g *graph) writeLegend(b *bufio.Writer, frames []frame) {
	var present [numFamilies]bool
	for _, f := range frames[1:] { // frames[0] is the root
		present[familyOf(f.n.name)] = true
	}
	x := float64(margin)
	for fam := range numFamilies {
		if !present[fam] {
			continue
		}
		fmt.Fprintf(b, `<rect x="%s" y="48" width="10" height="10" fill="%s"/>`, num(x), families[fam].swatch())
		fmt.Fprintf(b, `<text x="%s" y="57">`, num(x+14))
		escape(b, families[fam].label)
		b.WriteString("</text>\n")
		x += 14 + float64(len(families[fam].label))*charW + 16
	}
}

// shortName drops the import path before the package name, as pprof does:
// "github.com/ferry-tunnel/ferry/relay.(*Server).Serve" is labelled
// "relay.(*Server).Serve". The tooltip keeps the full name.
func shortName(name string) string {
	end := len(name)
	if i := strings.IndexByte(name, '['); i >= 0 {
		end = i // type arguments may contain '/'
	}
	return name[strings.LastIndexByte(name[:end], '/')+1:]
}

// truncate shortens s to at most n characters, marking a cut with "..",
// and returns "" when fewer than minLabel characters would fit.
func truncate(s string, n int) string {
	if n < minLabel {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-2]) + ".."
}

// escape writes s as XML character data, safe in text and attribute values;
// invalid characters become U+FFFD.
func escape(b *bufio.Writer, s string) {
	xml.EscapeText(b, []byte(s)) // the error, if any, sticks in b
}

// num formats a coordinate with at most two decimals and no trailing zeros.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
