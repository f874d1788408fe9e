package flamegraph

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Options control Render. The zero value draws the profile's default sample
// type 1200 px wide.
type Options struct {
	// Title is printed at the top. Zero means "Flame graph".
	Title string
	// SampleType names the sample value to draw, e.g. "cpu" (CPU
	// nanoseconds), "samples", "inuse_space", "alloc_space". Zero means the
	// profile's DefaultSampleType, else its last sample type (what pprof
	// picks). A name the profile lacks is ErrUnknownSampleType.
	SampleType string
	// Width is the SVG width in px. Zero means 1200; otherwise it must be at
	// least 200.
	Width int
	// MinWidth omits frames narrower than this many px, together with
	// everything above them; they would be unreadable slivers that bloat the
	// file. Zero means 0.5. To keep every frame pass a tiny value such as
	// 1e-9. Negative is an error.
	MinWidth float64
}

const (
	defaultTitle    = "Flame graph"
	defaultWidth    = 1200
	minSVGWidth     = 200
	defaultMinWidth = 0.5
)

// withDefaults returns o with zero fields replaced by their defaults, or an
// error naming the first field out of range.
func (o Options) withDefaults() (Options, error) {
	if o.Title == "" {
		o.Title = defaultTitle
	}
	switch {
	case o.Width == 0:
		o.Width = defaultWidth
	case o.Width < minSVGWidth:
		return o, fmt.Errorf("%w: Width %d: must be 0 or at least %d", ErrInvalidOptions, o.Width, minSVGWidth)
	}
	switch {
	case o.MinWidth == 0:
		o.MinWidth = defaultMinWidth
	case o.MinWidth < 0 || math.IsNaN(o.MinWidth) || math.IsInf(o.MinWidth, 0):
		return o, fmt.Errorf("%w: MinWidth %v: must be 0 or a positive number of px", ErrInvalidOptions, o.MinWidth)
	}
	return o, nil
}

// Render writes p as a self-contained SVG flame graph of the sample value
// chosen by o.SampleType. Each stack is drawn root at the bottom; a frame's
// width is its share of the total, and siblings are sorted by function name,
// so the same profile always renders to the same bytes. Samples whose chosen
// value is zero or negative (as in a diff profile) are left out. A profile
// with nothing to draw renders as a valid SVG that says "no samples".
func Render(w io.Writer, p *profile.Profile, o Options) error {
	if p == nil {
		return fmt.Errorf("%w: nil profile", ErrInvalidProfile)
	}
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProfile, err)
	}
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	idx, err := sampleIndex(p, o.SampleType)
	if err != nil {
		return err
	}
	g := graph{opts: o}
	if idx >= 0 {
		g.sampleType = *p.SampleType[idx]
		g.root = buildTree(p, idx)
		g.samples, g.hasSamples = countSamples(p, idx)
		g.durationNanos = p.DurationNanos
	}
	return g.write(w)
}

// sampleIndex returns the index in p.SampleType of the type named name, or
// of the default type when name is empty; -1 means the profile has no sample
// types at all, which only an empty profile can have.
func sampleIndex(p *profile.Profile, name string) (int, error) {
	if name == "" {
		for i, st := range p.SampleType {
			if st.Type == p.DefaultSampleType {
				return i, nil
			}
		}
		return len(p.SampleType) - 1, nil
	}
	types := make([]string, len(p.SampleType))
	for i, st := range p.SampleType {
		if st.Type == name {
			return i, nil
		}
		types[i] = st.Type
	}
	avail := strings.Join(types, ", ")
	if avail == "" {
		avail = "none"
	}
	return 0, fmt.Errorf("%w %q; the profile has: %s", ErrUnknownSampleType, name, avail)
}

// countSamples sums the "samples" count value of a CPU profile, for the
// header, unless that is the value being drawn anyway.
func countSamples(p *profile.Profile, drawn int) (n int64, ok bool) {
	for i, st := range p.SampleType {
		if st.Type == "samples" && i != drawn {
			for _, s := range p.Sample {
				n += s.Value[i]
			}
			return n, true
		}
	}
	return 0, false
}

// node is one frame of the flame graph: a function reached by one call path.
// Its value is the sum over all samples whose stack starts with that path.
type node struct {
	name     string
	value    int64
	children map[string]*node
}

// rootName labels the synthetic frame under all stacks, as in flamegraph.pl.
const rootName = "all"

func (n *node) child(name string) *node {
	c := n.children[name]
	if c == nil {
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		c = &node{name: name}
		n.children[name] = c
	}
	return c
}

// sortedChildren returns n's children ordered by name: the classic flame
// graph order, which makes the output independent of sample order.
func (n *node) sortedChildren() []*node {
	cs := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return cs
}

// buildTree merges the stacks of p into a tree keyed by function name, root
// first. Frames with the same name under the same parent merge even when
// they come from different locations (different lines of one function).
func buildTree(p *profile.Profile, idx int) *node {
	root := &node{name: rootName}
	for _, s := range p.Sample {
		v := s.Value[idx]
		if v <= 0 {
			continue
		}
		root.value += v
		n := root
		// Sample.Location[0] is the leaf, and within a location Line[0] is
		// the innermost inlined function, so walk both backwards to go from
		// the root up.
		for i := len(s.Location) - 1; i >= 0; i-- {
			loc := s.Location[i]
			if len(loc.Line) == 0 {
				n = n.child(addressName(loc))
				n.value += v
				continue
			}
			for j := len(loc.Line) - 1; j >= 0; j-- {
				n = n.child(functionName(loc, loc.Line[j].Function))
				n.value += v
			}
		}
	}
	return root
}

func functionName(loc *profile.Location, f *profile.Function) string {
	switch {
	case f.Name != "":
		return f.Name
	case f.SystemName != "":
		return f.SystemName
	}
	return addressName(loc)
}

// addressName names an unsymbolized location by its address.
func addressName(loc *profile.Location) string {
	return fmt.Sprintf("0x%x", loc.Address)
}
