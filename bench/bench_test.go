package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"

	// The binary the test builds has every engine; so does the test, to
	// check that each one got a row.
	_ "github.com/ferry-tunnel/ferry/variants/all"
)

// TestRunEveryEngine runs the real harness, briefly, over every engine: each
// must produce a row with bytes that arrived intact, and CPU readings.
func TestRunEveryEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs it as processes")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/ferry-tunnel/ferry/cmd/ferry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress strings.Builder
	rows, err := Run(ctx, Config{Ferry: bin, Duration: 300 * time.Millisecond, Progress: &progress})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, r := range rows {
		got[r.Engine] = r
	}
	for _, engine := range relay.Engines() {
		r, ok := got[engine]
		switch {
		case !ok:
			t.Errorf("%s: no row", engine)
		case r.Received.Bytes == 0:
			t.Errorf("%s: no bytes moved", engine)
		case !r.OK():
			t.Errorf("%s: sent %+v, received %+v", engine, r.Sent, r.Received)
		}
		// Both engines moved every byte, one way: the counters that prove
		// which path ran must at least add up.
		for side, c := range map[string]map[string]uint64{"server": r.ServerCounters, "client": r.ClientCounters} {
			moved := c["engine."+relay.CounterBytesAtoB] + c["engine."+relay.CounterBytesBtoA]
			if moved != uint64(r.Received.Bytes) {
				t.Errorf("%s: %s engine counted %d bytes, the sink got %d", engine, side, moved, r.Received.Bytes)
			}
		}
	}
	var report strings.Builder
	if err := WriteReport(&report, CollectProvenance(Config{Ferry: bin}), rows); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + report.String())
	for _, engine := range relay.Engines() {
		if !strings.Contains(report.String(), "## "+engine) {
			t.Errorf("report has no section for %s", engine)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU accounting reads Linux /proc")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	d, err := processCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 || d > 5*time.Second {
		t.Errorf("a sleeping process used %v of CPU", d)
	}
}
