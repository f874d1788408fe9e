package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestParseEngines(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want []EngineInfo
	}{
		{
			name: "ferry engines",
			out:  "epollcopy\nepollsplice\ngocopy\tdefault\ttls-data\ngocopybuf\ttls-data\n",
			want: []EngineInfo{
				{Name: "epollcopy"},
				{Name: "epollsplice"},
				{Name: "gocopy", Default: true, TLSData: true},
				{Name: "gocopybuf", TLSData: true},
			},
		},
		{
			// An engine that cannot run here says why; the reason's words
			// are not markers, even when they look like one.
			name: "unavailable",
			out:  "epollsplice\tunavailable: relay: engine \"epollsplice\": needs Linux, not tls-data\ngocopy\tdefault\ttls-data\n",
			want: []EngineInfo{{Name: "epollsplice"}, {Name: "gocopy", Default: true, TLSData: true}},
		},
		{
			// The name alone, as binaries before tls-data printed it; blank
			// lines, CRLF and stray spaces do not make engines.
			name: "names only",
			out:  "\r\n  gocopy  \r\n\n gocopybuf\t tls-data \r\n",
			want: []EngineInfo{{Name: "gocopy"}, {Name: "gocopybuf", TLSData: true}},
		},
		{name: "empty", out: "\n\n", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseEngines(tc.out); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseEngines(%q)\n = %+v\nwant %+v", tc.out, got, tc.want)
			}
		})
	}
}

// fakeFerry writes a script that prints engines as `ferry engines` would,
// and returns its path.
func fakeFerry(t *testing.T, engines string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake ferry is a shell script")
	}
	path := filepath.Join(t.TempDir(), "ferry")
	script := "#!/bin/sh\ncat <<'EOF'\n" + engines + "EOF\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlanTunnelTLS pins which cases tunnel-tls makes: one per engine the
// binary marks tls-data, among those asked for, in the order asked.
func TestPlanTunnelTLS(t *testing.T) {
	ferry := fakeFerry(t, "epollcopy\nepollsplice\ngocopy\tdefault\ttls-data\ngocopybuf\ttls-data\n")
	for _, tc := range []struct {
		name       string
		preset     string
		engines    []string
		topologies []string
		want       []string // case names; nil with wantErr
		wantErr    string
		wantNote   string
	}{
		{
			name:   "default preset, every engine",
			preset: "default",
			want: []string{"direct", "tunnel/epollcopy", "tunnel/epollsplice", "tunnel/gocopy", "tunnel/gocopybuf",
				"tunnel-tls/gocopy", "tunnel-tls/gocopybuf"},
		},
		{
			name:    "quick preset, engines asked for",
			preset:  "quick",
			engines: []string{"gocopybuf", "epollsplice"},
			want:    []string{"direct", "tunnel/gocopybuf", "tunnel/epollsplice", "tunnel-tls/gocopybuf"},
		},
		{
			name:     "preset, no engine asked for can",
			preset:   "default",
			engines:  []string{"epollsplice"},
			want:     []string{"direct", "tunnel/epollsplice"},
			wantNote: "runs without tunnel-tls",
		},
		{
			name:       "tunnel-tls asked for, no engine asked for can",
			preset:     "quick",
			engines:    []string{"epollcopy", "epollsplice"},
			topologies: []string{TunnelTLS},
			wantErr:    "none of the engines epollcopy, epollsplice can relay TLS data connections",
		},
		{
			name:       "unknown topology",
			preset:     "quick",
			topologies: []string{"tunnel-quic"},
			wantErr:    "want direct, tunnel, tunnel-tls, forward, haproxy or nginx",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			p, err := newPlan(Config{Ferry: ferry, Preset: tc.preset, Engines: tc.engines, Topologies: tc.topologies, Progress: &progress})
			if !checkPlan(t, p, err, tc.want, tc.wantErr) {
				return
			}
			if !strings.Contains(progress.String(), tc.wantNote) {
				t.Errorf("progress %q, want it to say %q", progress.String(), tc.wantNote)
			}
		})
	}
}

// checkPlan checks newPlan's outcome: the error saying wantErr when that is
// set, else the cases want, in order. It reports whether there is a plan to
// look at further.
func checkPlan(t *testing.T, p *plan, err error, want []string, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("newPlan: %v, want an error saying %q", err, wantErr)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.cases {
		got = append(got, c.name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("cases %v, want %v", got, want)
	}
	return true
}
