package flamegraph

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
)

// ferryModule is the module whose packages get the "ferry" colours.
const ferryModule = "github.com/ferry-tunnel/ferry"

// family groups packages that share a hue, so the kind of code on a path is
// visible at a glance: ferry's own code green, the runtime orange, system
// calls red, the network stack blue.
type family int

const (
	famFerry   family = iota // ferry's packages and main
	famRuntime               // runtime, runtime/*, internal/runtime/*
	famSyscall               // syscall, golang.org/x/sys/*, internal/syscall/*
	famNet                   // net, net/*, internal/poll
	famStd                   // the rest of the standard library
	famOther                 // third-party modules
	famNone                  // the root, addresses, C functions
	numFamilies
)

// families gives each family a hue range in degrees, a saturation, and its
// legend label. Within a family the package picks the hue and the function
// the lightness, both from a hash, so colours are stable across renders.
var families = [numFamilies]familyStyle{
	famFerry:   {label: "ferry", hue: 95, span: 40, sat: 0.55},
	famRuntime: {label: "runtime", hue: 20, span: 22, sat: 0.80},
	famSyscall: {label: "syscall, x/sys", hue: 352, span: 12, sat: 0.70},
	famNet:     {label: "net, internal/poll", hue: 195, span: 30, sat: 0.60},
	famStd:     {label: "other std", hue: 46, span: 14, sat: 0.75},
	famOther:   {label: "third-party", hue: 265, span: 30, sat: 0.45},
	famNone:    {label: "C, unsymbolized", hue: 0, span: 0, sat: 0},
}

// Lightness stays high enough for black text to read on every frame.
const (
	minLight  = 0.62
	lightSpan = 0.14
)

type familyStyle struct {
	label     string
	hue, span float64 // degrees
	sat       float64
}

// swatch is the family's colour in the middle of its ranges, for the legend.
func (f familyStyle) swatch() string {
	return hsl(f.hue+f.span/2, f.sat, minLight+lightSpan/2)
}

// frameColor picks a frame's fill from its function name. The root is grey.
func frameColor(name string, root bool) string {
	if root {
		return hsl(0, 0, 0.80)
	}
	pkg := packageOf(name)
	f := families[familyOfPackage(pkg)]
	return hsl(f.hue+f.span*unit(pkg), f.sat, minLight+lightSpan*unit(name))
}

func familyOf(name string) family { return familyOfPackage(packageOf(name)) }

func familyOfPackage(pkg string) family {
	under := func(prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }
	switch {
	case pkg == "":
		return famNone
	case under(ferryModule) || pkg == "main":
		return famFerry
	case under("runtime") || under("internal/runtime"):
		return famRuntime
	case under("syscall") || under("golang.org/x/sys") || under("internal/syscall"):
		return famSyscall
	case under("net") || under("internal/poll"):
		return famNet
	case !strings.Contains(strings.SplitN(pkg, "/", 2)[0], "."):
		// Standard library paths have no dot in their first element.
		return famStd
	}
	return famOther
}

// packageOf returns the import path of a Go function name, e.g.
// "golang.org/x/sys/unix" for "golang.org/x/sys/unix.Syscall" and
// "github.com/a/b" for "github.com/a/b.(*T[...]).M.func1". It returns "" for
// names that are not Go symbols, such as addresses and most C functions.
func packageOf(name string) string {
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i] // type arguments may contain '/' and '.'
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot <= 0 {
		return ""
	}
	return name[:slash+1+dot]
}

// unit hashes s to a number in [0, 1).
func unit(s string) float64 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return float64(h.Sum32()) / (1 << 32)
}

// hsl converts a colour to "#rrggbb"; h is in degrees, s and l in [0, 1].
func hsl(h, s, l float64) string {
	h = math.Mod(h, 360) / 60
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch {
	case h < 1:
		r, g = c, x
	case h < 2:
		r, g = x, c
	case h < 3:
		g, b = c, x
	case h < 4:
		g, b = x, c
	case h < 5:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := l - c/2
	to8 := func(v float64) int { return int(math.Round((v + m) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", to8(r), to8(g), to8(b))
}
