package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/bench/results"
)

// Fake relays for the availability check: shell scripts that answer the
// check (-t, -c) as the real ones do, and refuse to serve, so a harness
// that ran one instead of checking it would fail the test. They use only
// shell builtins: PATH may hold nothing else.
const (
	// nginxNoStream is Debian's nginx without libnginx-mod-stream.
	nginxNoStream = `#!/bin/sh
case " $* " in *" -t "*) ;; *) echo "fake nginx: only -t" >&2; exit 3;; esac
echo 'nginx: [emerg] dlopen() "/usr/lib/nginx/modules/ngx_stream_module.so" failed (/usr/lib/nginx/modules/ngx_stream_module.so: cannot open shared object file: No such file or directory) in /tmp/x/nginx.conf:5' >&2
echo 'nginx: configuration file /tmp/x/nginx.conf test failed' >&2
exit 1
`
	nginxOK = `#!/bin/sh
case " $* " in *" -t "*) exit 0;; esac
echo "fake nginx: only -t" >&2
exit 3
`
	haproxyRefuses = `#!/bin/sh
case " $* " in *" -c "*) ;; *) echo "fake haproxy: only -c" >&2; exit 3;; esac
echo "[NOTICE]   (1) : haproxy version is 2.6.12-1+deb12u4" >&2
echo "[ALERT]    (1) : config : parsing [/tmp/x/haproxy.conf:2] : 'nbthread' value must be between 1 and 64 (was 96)" >&2
echo "[ALERT]    (1) : config : Fatal errors found in configuration." >&2
exit 1
`
)

// fakeRelays puts scripts named for relays first in PATH.
func fakeRelays(t *testing.T, scripts map[string]string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake relays are shell scripts")
	}
	dir := t.TempDir()
	for name, script := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestExternalAvailability: a relay that is installed but refuses the
// case's configuration when asked to check it is not available, and the
// reason says what it said; one that accepts it is available.
func TestExternalAvailability(t *testing.T) {
	fakeRelays(t, map[string]string{"nginx": nginxNoStream, "nginx-ok": nginxOK, "haproxy": haproxyRefuses})
	nginxWithStream := externals[Nginx]
	nginxWithStream.bin = "nginx-ok"
	missing := externals[HAProxy]
	missing.bin = "ferry-bench-no-such-relay"
	for _, tc := range []struct {
		name string
		x    external
		want []string // in the reason; none: available
	}{
		{name: "nginx without its stream module", x: externals[Nginx],
			want: []string{"nginx -t -q -e stderr", "dlopen()", "ngx_stream_module.so", "test failed"}},
		{name: "nginx with it", x: nginxWithStream},
		{name: "haproxy refusing the configuration", x: externals[HAProxy],
			want: []string{"haproxy -c -f", "'nbthread' value must be between 1 and 64 (was 96)"}},
		{name: "not installed", x: missing, want: []string{"not installed", "ferry-bench-no-such-relay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.x.availability(time.Minute)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("not available: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("available, want not")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("reason %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("reason %q is more than one line", err)
			}
		})
	}
}

// TestPlanExternalNotAvailable: an external case the machine cannot run is
// left out of the plan and recorded with why, whether the preset or the
// caller asked for it; only a plan with nothing left to run is an error.
func TestPlanExternalNotAvailable(t *testing.T) {
	fakeRelays(t, map[string]string{"nginx": nginxNoStream, "haproxy": haproxyRefuses})
	ferry := fakeFerry(t, "gocopy\tdefault\ttls-data\n")
	for _, tc := range []struct {
		name       string
		preset     string
		topologies []string
		want       []string // cases
		wantErr    string
	}{
		{name: "full preset", preset: "full",
			want: []string{"direct", "tunnel/gocopy", "tunnel-tls/gocopy", "forward/gocopy"}},
		{name: "asked for by name", preset: "quick", topologies: []string{Direct, Nginx}, want: []string{"direct"}},
		{name: "nothing else", preset: "quick", topologies: []string{Nginx, HAProxy},
			wantErr: "no case can run here: nginx: nginx -t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			p, err := newPlan(Config{Ferry: ferry, Preset: tc.preset, Topologies: tc.topologies, Progress: &progress})
			if !checkPlan(t, p, err, tc.want, tc.wantErr) {
				return
			}
			asked := tc.topologies
			if asked == nil {
				asked = Presets[tc.preset].Topologies
			}
			for _, x := range []string{HAProxy, Nginx} {
				if !slices.Contains(asked, x) {
					continue
				}
				i := slices.IndexFunc(p.unavailable, func(u results.Unavailable) bool { return u.Case == x })
				if i < 0 || p.unavailable[i].Why == "" {
					t.Errorf("%s not recorded as unavailable with why: %+v", x, p.unavailable)
				}
				if !strings.Contains(progress.String(), "bench: "+x+" not available: ") {
					t.Errorf("progress does not say %s is not available:\n%s", x, progress.String())
				}
			}
		})
	}
}

// TestRunExternalNotAvailable: a run asked for nginx on a machine whose
// nginx cannot run the case succeeds without it, and the results, the table
// and the README say "nginx: not available: why"; no run failed.
func TestRunExternalNotAvailable(t *testing.T) {
	fakeRelays(t, map[string]string{"nginx": nginxNoStream})
	ferry := fakeFerry(t, "gocopy\tdefault\ttls-data\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, Config{Ferry: ferry, Preset: "quick", Topologies: []string{Direct, Nginx}, Workloads: []string{"rr-c1"}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !slices.Equal(r.Matrix.Cases, []string{Direct}) || len(r.Runs) != 1 || !r.Runs[0].OK {
		t.Errorf("cases %v, runs %+v: want direct alone, run once, OK", r.Matrix.Cases, r.Runs)
	}
	if len(r.Matrix.Unavailable) != 1 || r.Matrix.Unavailable[0].Case != Nginx || !strings.Contains(r.Matrix.Unavailable[0].Why, "dlopen()") {
		t.Fatalf("unavailable %+v, want nginx with the dlopen failure", r.Matrix.Unavailable)
	}
	var table, readme strings.Builder
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteREADME(&readme, r, nil); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"table": table.String(), "README": readme.String()} {
		if !strings.Contains(out, "nginx: not available: nginx -t") {
			t.Errorf("%s does not say nginx is not available:\n%s", name, out)
		}
		if strings.Contains(out, "FAILED") || strings.Contains(out, "Failed runs") {
			t.Errorf("%s reports a failure:\n%s", name, out)
		}
	}
}
