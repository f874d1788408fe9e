package flamegraph

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// builder makes CPU-shaped profiles like the Go runtime writes: sample types
// samples/count and cpu/nanoseconds, 10 ms per sample.
type builder struct {
	p     *profile.Profile
	funcs map[string]*profile.Function
}

func newBuilder() *builder {
	return &builder{
		p: &profile.Profile{
			SampleType: []*profile.ValueType{
				{Type: "samples", Unit: "count"},
				{Type: "cpu", Unit: "nanoseconds"},
			},
			PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
			Period:     10_000_000,
		},
		funcs: make(map[string]*profile.Function),
	}
}

func (b *builder) fn(name string) *profile.Function {
	f := b.funcs[name]
	if f == nil {
		f = &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name}
		b.funcs[name] = f
		b.p.Function = append(b.p.Function, f)
	}
	return f
}

// loc adds a location holding the given functions, innermost first as in
// profile.Location.Line; more than one means inlined calls.
func (b *builder) loc(line int64, inner ...string) *profile.Location {
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: 0x1000 + uint64(len(b.p.Location))*16}
	for _, name := range inner {
		l.Line = append(l.Line, profile.Line{Function: b.fn(name), Line: line})
	}
	b.p.Location = append(b.p.Location, l)
	return l
}

// stack adds a sample of cpu nanoseconds whose stack is given root first,
// "main.main;pkg.f;pkg.g", with a fresh location per frame.
func (b *builder) stack(cpu int64, folded string) {
	names := strings.Split(folded, ";")
	locs := make([]*profile.Location, len(names))
	for i, name := range names {
		locs[len(names)-1-i] = b.loc(int64(10+i), name)
	}
	b.sample(cpu, locs...)
}

// sample adds a sample with locations leaf first, as in profile.Sample.
func (b *builder) sample(cpu int64, leafFirst ...*profile.Location) {
	b.p.Sample = append(b.p.Sample, &profile.Sample{
		Location: leafFirst,
		Value:    []int64{max(1, cpu/b.p.Period), cpu},
	})
}

// svgFrame is one frame read back from a rendered SVG.
type svgFrame struct {
	name, title, label, fill string
	x, y, w, h               float64
}

// xnode is a generic XML element.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Kids    []xnode    `xml:",any"`
}

func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// render renders p and parses the result, failing the test on any error.
func render(t *testing.T, p *profile.Profile, o Options) (svg []byte, doc xnode, frames []svgFrame) {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, p, o); err != nil {
		t.Fatalf("Render: %v", err)
	}
	doc, frames = parseSVG(t, buf.Bytes())
	return buf.Bytes(), doc, frames
}

// parseSVG checks that data is a well-formed SVG document and returns its
// frames: the <g> elements holding a <title> and a <rect>.
func parseSVG(t *testing.T, data []byte) (xnode, []svgFrame) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, data)
		}
	}
	var doc xnode
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("xml.Unmarshal: %v", err)
	}
	if doc.XMLName.Local != "svg" || doc.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element is %v, want svg in the SVG namespace", doc.XMLName)
	}
	var frames []svgFrame
	var walk func(n *xnode)
	walk = func(n *xnode) {
		if n.XMLName.Local == "g" && len(n.Kids) >= 2 && n.Kids[0].XMLName.Local == "title" && n.Kids[1].XMLName.Local == "rect" {
			r := &n.Kids[1]
			f := svgFrame{title: n.Kids[0].Text, fill: r.attr("fill")}
			f.name = f.title[:strings.LastIndex(f.title, " (")]
			f.x, f.y, f.w, f.h = parseNum(t, r.attr("x")), parseNum(t, r.attr("y")), parseNum(t, r.attr("width")), parseNum(t, r.attr("height"))
			if len(n.Kids) > 2 {
				f.label = n.Kids[2].Text
			}
			frames = append(frames, f)
			return
		}
		for i := range n.Kids {
			walk(&n.Kids[i])
		}
	}
	walk(&doc)
	return doc, frames
}

func parseNum(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad number %q: %v", s, err)
	}
	return f
}

// only returns the single frame called name.
func only(t *testing.T, frames []svgFrame, name string) svgFrame {
	t.Helper()
	var found []svgFrame
	for _, f := range frames {
		if f.name == name {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("found %d frames named %q, want 1; frames: %+v", len(found), name, frames)
	}
	return found[0]
}

func has(frames []svgFrame, name string) bool {
	for _, f := range frames {
		if f.name == name {
			return true
		}
	}
	return false
}

func TestRootSpansDrawingAtBottom(t *testing.T) {
	for _, width := range []int{0, 200, 800} {
		b := newBuilder()
		b.stack(30e6, "main.main;main.work")
		b.stack(10e6, "runtime.mcall;runtime.schedule")
		_, doc, frames := render(t, b.p, Options{Width: width})
		want := width
		if width == 0 {
			want = defaultWidth
		}
		if got := doc.attr("width"); got != strconv.Itoa(want) {
			t.Errorf("Width %d: svg width = %q, want %d", width, got, want)
		}
		root := only(t, frames, rootName)
		if root.x != margin || math.Abs(root.w-float64(want-2*margin)) > 0.01 {
			t.Errorf("Width %d: root spans x=%v w=%v, want x=%v w=%v", width, root.x, root.w, margin, want-2*margin)
		}
		for _, f := range frames {
			if f.y > root.y {
				t.Errorf("Width %d: frame %q at y=%v is below the root at y=%v", width, f.name, f.y, root.y)
			}
		}
		if w, r := only(t, frames, "main.work"), only(t, frames, "main.main"); w.y != r.y-rowH {
			t.Errorf("child y = %v, want one row (%d px) above its parent at %v", w.y, rowH, r.y)
		}
	}
}

func TestWidthProportionalToShare(t *testing.T) {
	b := newBuilder()
	b.stack(300e6, "main.main;main.a")
	b.stack(100e6, "main.main;main.b")
	b.stack(100e6, "main.main")
	_, _, frames := render(t, b.p, Options{Width: 1000})
	drawW := 1000.0 - 2*margin
	for _, tc := range []struct {
		name  string
		share float64
	}{
		{name: "main.main", share: 1},
		{name: "main.a", share: 0.6},
		{name: "main.b", share: 0.2},
	} {
		if got := only(t, frames, tc.name).w; math.Abs(got-tc.share*drawW) > 1 {
			t.Errorf("%s: width %v, want %v (share %v)", tc.name, got, tc.share*drawW, tc.share)
		}
	}
	if got, want := only(t, frames, "main.a").title, "main.a (300.00 ms, 60.00%)"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
}

func TestSameStackMerges(t *testing.T) {
	b := newBuilder()
	// The same call path three times, through distinct locations and, for
	// main.leaf, different lines of the same function.
	b.stack(10e6, "main.main;main.mid;main.leaf")
	b.stack(20e6, "main.main;main.mid;main.leaf")
	b.sample(30e6, b.loc(99, "main.leaf"), b.loc(7, "main.mid"), b.loc(3, "main.main"))
	_, _, frames := render(t, b.p, Options{})
	if len(frames) != 4 {
		t.Fatalf("got %d frames, want 4 (all, main.main, main.mid, main.leaf): %+v", len(frames), frames)
	}
	if got, want := only(t, frames, "main.leaf").title, "main.leaf (60.00 ms, 100.00%)"; got != want {
		t.Errorf("merged frame title = %q, want %q", got, want)
	}
}

func TestSiblingsSortedByName(t *testing.T) {
	b := newBuilder()
	b.stack(10e6, "main.main;main.zeta")
	b.stack(20e6, "main.main;main.alpha")
	b.stack(30e6, "main.main;main.mid")
	_, _, frames := render(t, b.p, Options{})
	parent := only(t, frames, "main.main")
	x := parent.x
	for _, name := range []string{"main.alpha", "main.mid", "main.zeta"} {
		f := only(t, frames, name)
		if math.Abs(f.x-x) > 0.01 {
			t.Errorf("%s at x=%v, want %v: siblings should tile their parent in name order", name, f.x, x)
		}
		x += f.w
	}
}

func TestInlinedFramesExpand(t *testing.T) {
	b := newBuilder()
	// One location where main.helper was inlined into main.caller: Line[0]
	// is the innermost function.
	b.sample(10e6, b.loc(5, "main.helper", "main.caller"), b.loc(1, "main.main"))
	_, _, frames := render(t, b.p, Options{})
	m, c, h := only(t, frames, "main.main"), only(t, frames, "main.caller"), only(t, frames, "main.helper")
	if c.y != m.y-rowH || h.y != c.y-rowH {
		t.Errorf("rows main.main y=%v, main.caller y=%v, main.helper y=%v; want the inlined callee above its caller", m.y, c.y, h.y)
	}
}

func TestDeterministic(t *testing.T) {
	b := newBuilder()
	for i := range 50 {
		b.stack(int64(i+1)*1e6, "main.main;main.f"+strconv.Itoa(i%7)+";runtime.mallocgc")
		b.stack(int64(i+1)*1e5, "runtime.goexit;net.(*conn).Read;internal/poll.(*FD).Read;syscall.read")
	}
	first, _, _ := render(t, b.p, Options{Title: "det"})
	second, _, _ := render(t, b.p, Options{Title: "det"})
	if !bytes.Equal(first, second) {
		t.Fatal("two renders of the same profile differ")
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(b.p.Sample), func(i, j int) {
		b.p.Sample[i], b.p.Sample[j] = b.p.Sample[j], b.p.Sample[i]
	})
	shuffled, _, _ := render(t, b.p, Options{Title: "det"})
	if !bytes.Equal(first, shuffled) {
		t.Fatal("render depends on the order of samples")
	}
}

func TestXMLEscaping(t *testing.T) {
	names := []string{
		`main.Map[go.shape.struct { X <-chan int },go.shape.string].func1`,
		`weird<name>&"quoted'`,
	}
	b := newBuilder()
	b.stack(10e6, "main.main;"+names[0])
	b.stack(10e6, "main.main;"+names[1])
	svg, _, frames := render(t, b.p, Options{Title: "a < b && c > d"})
	for _, name := range names {
		if bytes.Contains(svg, []byte(name)) {
			t.Errorf("raw name %q appears unescaped in the SVG", name)
		}
		if f := only(t, frames, name); !strings.HasPrefix(name, strings.TrimSuffix(f.label, "..")) {
			t.Errorf("label %q does not read back as a prefix of %q", f.label, name)
		}
	}
	if bytes.Contains(svg, []byte("a < b")) {
		t.Error("title appears unescaped")
	}
}

func TestSampleTypeSelection(t *testing.T) {
	b := newBuilder()
	b.stack(200e6, "main.main;main.a")
	b.stack(200e6, "main.main;main.b")

	// Zero picks the last type, cpu, when DefaultSampleType is unset.
	_, _, frames := render(t, b.p, Options{})
	if got, want := only(t, frames, "main.a").title, "main.a (200.00 ms, 50.00%)"; got != want {
		t.Errorf("default: title %q, want %q", got, want)
	}
	_, _, frames = render(t, b.p, Options{SampleType: "samples"})
	if got, want := only(t, frames, "main.a").title, "main.a (20, 50.00%)"; got != want {
		t.Errorf("samples: title %q, want %q", got, want)
	}
	b.p.DefaultSampleType = "samples"
	_, _, frames = render(t, b.p, Options{})
	if got, want := only(t, frames, "main.a").title, "main.a (20, 50.00%)"; got != want {
		t.Errorf("DefaultSampleType samples: title %q, want %q", got, want)
	}

	err := Render(&bytes.Buffer{}, b.p, Options{SampleType: "alloc_space"})
	if !errors.Is(err, ErrUnknownSampleType) {
		t.Fatalf("unknown sample type: err = %v, want ErrUnknownSampleType", err)
	}
	if !strings.Contains(err.Error(), "samples, cpu") {
		t.Errorf("error %q does not list the available types", err)
	}
}

func TestSubtitle(t *testing.T) {
	b := newBuilder()
	b.stack(3210e6, "main.main")
	b.p.DurationNanos = 10e9
	_, doc, _ := render(t, b.p, Options{Title: "ferry"})
	var texts []string
	for _, k := range doc.Kids {
		if k.XMLName.Local == "text" {
			texts = append(texts, k.Text)
		}
	}
	want := []string{"ferry", "cpu: 3.21 s total, 321 samples, duration 10.00 s"}
	if len(texts) < 2 || texts[0] != want[0] || texts[1] != want[1] {
		t.Errorf("header texts %q, want %q first", texts, want)
	}
}

func TestMinWidthOmitsNarrowFrames(t *testing.T) {
	b := newBuilder()
	b.stack(1e9, "main.main;main.big")
	b.stack(1e3, "main.main;main.tiny;main.tinier") // 1e-6 of the total: far below 0.5 px
	_, _, frames := render(t, b.p, Options{})
	if has(frames, "main.tiny") || has(frames, "main.tinier") {
		t.Error("frames narrower than the default MinWidth were drawn")
	}
	if !has(frames, "main.big") {
		t.Error("main.big missing")
	}
	_, _, frames = render(t, b.p, Options{MinWidth: 1e-9})
	if !has(frames, "main.tiny") || !has(frames, "main.tinier") {
		t.Error("MinWidth 1e-9 omitted frames")
	}
	_, _, frames = render(t, b.p, Options{MinWidth: 2000})
	if len(frames) != 1 || frames[0].name != rootName {
		t.Errorf("MinWidth wider than the graph: frames %+v, want the root alone", frames)
	}
}

func TestLabels(t *testing.T) {
	long := "github.com/ferry-tunnel/ferry/variants/epollsplice.(*reactor).handlePairEvent"
	b := newBuilder()
	b.stack(910e6, "main.main;"+long)
	b.stack(20e6, "main.main;main.narrow") // 2% of 1180 px: 23.6 px, room for 2 chars
	b.stack(70e6, "main.main;main.medium") // 7%: 82.6 px, room for 10 chars
	_, _, frames := render(t, b.p, Options{})
	if got, want := only(t, frames, long).label, "epollsplice.(*reactor).handlePairEvent"; got != want {
		t.Errorf("wide frame label %q, want %q: the name without its import path", got, want)
	}
	if got := only(t, frames, "main.narrow").label; got != "" {
		t.Errorf("narrow frame label %q, want none", got)
	}
	if got, want := only(t, frames, "main.medium").label, "main.med.."; got != want {
		t.Errorf("medium frame label %q, want %q", got, want)
	}
}

func TestEmptyProfiles(t *testing.T) {
	zero := newBuilder()
	zero.stack(0, "main.main") // a sample whose cpu value is zero
	for _, tc := range []struct {
		name string
		p    *profile.Profile
	}{
		{name: "no samples", p: newBuilder().p},
		{name: "zero values", p: zero.p},
		{name: "zero Profile", p: &profile.Profile{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg, _, frames := render(t, tc.p, Options{})
			if len(frames) != 0 {
				t.Errorf("got %d frames, want none", len(frames))
			}
			if !bytes.Contains(svg, []byte(">no samples</text>")) {
				t.Errorf("SVG does not say no samples:\n%s", svg)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	bad := newBuilder()
	bad.stack(1, "main.main")
	bad.p.Sample[0].Value = []int64{1} // one value for two sample types
	for _, tc := range []struct {
		name string
		p    *profile.Profile
		o    Options
		want error
	}{
		{name: "negative Width", p: newBuilder().p, o: Options{Width: -1}, want: ErrInvalidOptions},
		{name: "tiny Width", p: newBuilder().p, o: Options{Width: 50}, want: ErrInvalidOptions},
		{name: "negative MinWidth", p: newBuilder().p, o: Options{MinWidth: -1}, want: ErrInvalidOptions},
		{name: "NaN MinWidth", p: newBuilder().p, o: Options{MinWidth: math.NaN()}, want: ErrInvalidOptions},
		{name: "nil profile", p: nil, want: ErrInvalidProfile},
		{name: "inconsistent profile", p: bad.p, want: ErrInvalidProfile},
		{name: "no sample types", p: &profile.Profile{}, o: Options{SampleType: "cpu"}, want: ErrUnknownSampleType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.p, tc.o); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorReturned(t *testing.T) {
	b := newBuilder()
	b.stack(1e6, "main.main")
	if err := Render(failWriter{}, b.p, Options{}); err == nil {
		t.Error("Render returned nil for a failing writer")
	}
}

func TestPackageFamilies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pkg   string
		fam   family
		short string // label; empty means name
	}{
		{name: "runtime.mallocgc", pkg: "runtime", fam: famRuntime},
		{name: "internal/runtime/syscall.Syscall6", pkg: "internal/runtime/syscall", fam: famRuntime, short: "syscall.Syscall6"},
		{name: "syscall.Syscall", pkg: "syscall", fam: famSyscall},
		{name: "golang.org/x/sys/unix.Splice", pkg: "golang.org/x/sys/unix", fam: famSyscall, short: "unix.Splice"},
		{name: "internal/poll.(*FD).Read", pkg: "internal/poll", fam: famNet, short: "poll.(*FD).Read"},
		{name: "net.(*conn).Read", pkg: "net", fam: famNet},
		{name: "github.com/ferry-tunnel/ferry/relay.(*Server).Serve.func1", pkg: "github.com/ferry-tunnel/ferry/relay", fam: famFerry, short: "relay.(*Server).Serve.func1"},
		{name: "main.main", pkg: "main", fam: famFerry},
		{name: "slices.SortFunc[go.shape.[]*net/http.Request]", pkg: "slices", fam: famStd},
		{name: "io.copyBuffer", pkg: "io", fam: famStd},
		{name: "github.com/google/pprof/profile.Parse", pkg: "github.com/google/pprof/profile", fam: famOther, short: "profile.Parse"},
		{name: "example.com/m/v2.F[net/http.Handler]", pkg: "example.com/m/v2", fam: famOther, short: "v2.F[net/http.Handler]"},
		{name: "0x4a2b3c", pkg: "", fam: famNone},
		{name: "__libc_write", pkg: "", fam: famNone},
	} {
		if got := packageOf(tc.name); got != tc.pkg {
			t.Errorf("packageOf(%q) = %q, want %q", tc.name, got, tc.pkg)
		}
		if got := familyOf(tc.name); got != tc.fam {
			t.Errorf("familyOf(%q) = %v, want %v", tc.name, got, tc.fam)
		}
		want := tc.short
		if want == "" {
			want = tc.name
		}
		if got := shortName(tc.name); got != want {
			t.Errorf("shortName(%q) = %q, want %q", tc.name, got, want)
		}
	}
}

func TestColorsAndLegend(t *testing.T) {
	b := newBuilder()
	b.stack(10e6, "main.main;github.com/ferry-tunnel/ferry/relay.pump;runtime.mallocgc")
	b.stack(10e6, "runtime.goexit;runtime.mallocgc")
	_, doc, frames := render(t, b.p, Options{})
	var fills []string
	for _, f := range frames {
		if f.name == "runtime.mallocgc" {
			fills = append(fills, f.fill)
		}
	}
	if len(fills) != 2 || fills[0] != fills[1] {
		t.Errorf("runtime.mallocgc fills %q, want two equal colours", fills)
	}
	if a, b := only(t, frames, "github.com/ferry-tunnel/ferry/relay.pump").fill, only(t, frames, "runtime.goexit").fill; a == b {
		t.Errorf("ferry and runtime frames share the colour %s", a)
	}
	var legend []string
	for _, k := range doc.Kids[4:] { // after style, background, title, subtitle
		if k.XMLName.Local == "text" {
			legend = append(legend, k.Text)
		}
	}
	if want := []string{"ferry", "runtime"}; !slices.Equal(legend, want) {
		t.Errorf("legend %q, want %q: the families present, in fixed order", legend, want)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		unit string
		want string
	}{
		{v: 999, unit: "nanoseconds", want: "999 ns"},
		{v: 1500, unit: "nanoseconds", want: "1.50 µs"},
		{v: 3_210_000_000, unit: "nanoseconds", want: "3.21 s"},
		{v: 5, unit: "milliseconds", want: "5.00 ms"},
		{v: 1023, unit: "bytes", want: "1023 B"},
		{v: 3 << 20, unit: "bytes", want: "3.00 MiB"},
		{v: 12345, unit: "count", want: "12 345"},
		{v: 1234567, unit: "count", want: "1 234 567"},
		{v: 100, unit: "count", want: "100"},
		{v: 7, unit: "widgets", want: "7 widgets"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%d, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// TestRealCPUProfile renders a profile of real work taken in process. The
// machine may be busy, so it asserts nothing about what was sampled.
func TestRealCPUProfile(t *testing.T) {
	var raw bytes.Buffer
	if err := pprof.StartCPUProfile(&raw); err != nil {
		t.Skipf("cannot start a CPU profile (another one running?): %v", err)
	}
	sink := busy(200 * time.Millisecond)
	pprof.StopCPUProfile()
	t.Logf("busy loop result %d, profile %d bytes", sink, raw.Len())

	p, err := profile.Parse(&raw)
	if err != nil {
		t.Fatalf("profile.Parse: %v", err)
	}
	_, _, frames := render(t, p, Options{Title: "TestRealCPUProfile"})
	t.Logf("%d samples, %d frames drawn", len(p.Sample), len(frames))
}

// busy spins for about d and returns a value the compiler cannot discard.
func busy(d time.Duration) uint64 {
	var x uint64 = 1
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 10_000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	return x
}
