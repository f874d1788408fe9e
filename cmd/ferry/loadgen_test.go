package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startBackend runs `ferry backend kind` on a port the kernel picks and
// returns it with the address it logged.
func startBackend(t *testing.T, kind string) (*proc, string) {
	t.Helper()
	p := startFerry(t, "backend "+kind, "backend", kind, "--listen", "127.0.0.1:0")
	line := p.waitLog("that it is listening", func(m map[string]any) bool {
		return m["msg"] == "ferry backend listening" && m["kind"] == kind
	})
	addr, _ := line["addr"].(string)
	if addr == "" {
		t.Fatalf("listening line has no addr: %v", line)
	}
	return p, addr
}

// loadgenJSON runs `ferry loadgen` with args plus --json -q, wants exit 0,
// and returns the object it printed.
func loadgenJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := runFerry(t, append(append([]string{"loadgen"}, args...), "--json", "-q")...)
	if code != exitOK {
		t.Fatalf("ferry loadgen %s exited %d; stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	return decodeReport(t, stdout)
}

// decodeReport decodes the one JSON object a loadgen printed.
func decodeReport(t *testing.T, stdout string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 0 {
		t.Errorf("want one line of JSON, got %d:\n%s", n+1, stdout)
	}
	return m
}

// field reads a number from a decoded report by a dotted path such as
// "latency_us.p50".
func field(t *testing.T, m map[string]any, path string) float64 {
	t.Helper()
	var v any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %v is not an object", path, v)
		}
		v = obj[k]
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%s is %v (%T), want a number; report: %v", path, v, v, m)
	}
	return f
}

// wantPositive fails for every path whose number is not above 0.
func wantPositive(t *testing.T, m map[string]any, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if v := field(t, m, p); !(v > 0) {
			t.Errorf("%s = %v, want > 0; report: %v", p, v, m)
		}
	}
}

func TestLoadgenRR(t *testing.T) {
	_, addr := startBackend(t, "echo")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "closed", args: []string{"--warmup", "100ms"}},
		{name: "open", args: []string{"--warmup", "0", "--rate", "2000", "--conns", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := loadgenJSON(t, append([]string{"rr", "--addr", addr, "--duration", "300ms"}, tc.args...)...)
			if res["workload"] != "rr" || res["addr"] != addr || res["interrupted"] != false {
				t.Errorf("report says workload %v, addr %v, interrupted %v", res["workload"], res["addr"], res["interrupted"])
			}
			wantPositive(t, res, "requests", "requests_per_s", "latency_us.p50", "latency_us.max", "elapsed_s")
			if n := field(t, res, "errors"); n != 0 {
				t.Errorf("%v errors against a local echo", n)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		code, stdout, stderr := runFerry(t, "loadgen", "rr", "--addr", addr, "--duration", "100ms", "--warmup", "0")
		if code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		for _, want := range []string{"rr to " + addr, "req/s", "p99.9"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("text report lacks %q:\n%s", want, stdout)
			}
		}
	})
}

// streamKey is a stream as both sides print it.
func streamKey(bytes float64, crc any) string { return fmt.Sprintf("%.0f/%v", bytes, crc) }

// bulkStreams returns the streams a bulk report lists.
func bulkStreams(t *testing.T, res map[string]any) []string {
	t.Helper()
	list, _ := res["streams"].([]any)
	var keys []string
	for _, s := range list {
		m, _ := s.(map[string]any)
		crc, _ := m["crc32c"].(string)
		if len(crc) != 8 {
			t.Errorf("stream crc32c %q: want 8 hex digits", crc)
		}
		keys = append(keys, streamKey(field(t, m, "bytes"), crc))
	}
	return keys
}

// TestLoadgenBulk checks that what the loadgen prints for each stream is
// what the backend logs for it, each way: the comparison a user makes.
func TestLoadgenBulk(t *testing.T) {
	for _, tc := range []struct {
		direction, kind, logMsg string
	}{
		{direction: "up", kind: "sink", logMsg: "stream received"},
		{direction: "down", kind: "source", logMsg: "stream sent"},
	} {
		t.Run(tc.direction, func(t *testing.T) {
			backend, addr := startBackend(t, tc.kind)
			const streams = 2
			res := loadgenJSON(t, "bulk", "--addr", addr, "--direction", tc.direction, "--streams", fmt.Sprint(streams), "--duration", "300ms")
			wantPositive(t, res, "bytes", "mb_per_s")
			sent := bulkStreams(t, res)
			if len(sent) != streams {
				t.Fatalf("report lists %d streams, want %d: %v", len(sent), streams, res)
			}
			// Parallel streams may end in any order: compare as sets.
			logged := map[string]int{}
			for i := range streams {
				line := backend.waitLog(fmt.Sprintf("stream %d", i), func(m map[string]any) bool {
					return m["msg"] == tc.logMsg && m["stream"] == float64(i)
				})
				if line["err"] != nil {
					t.Errorf("backend's stream %d ended with %v", i, line["err"])
				}
				logged[streamKey(field(t, line, "bytes"), line["crc32c"])]++
			}
			for _, k := range sent {
				if logged[k] == 0 {
					t.Errorf("loadgen printed stream %s; the backend logged %v", k, logged)
				}
				logged[k]--
			}

			backend.signal(syscall.SIGTERM)
			if code := backend.wait(); code != exitOK {
				t.Errorf("backend exited %d after SIGTERM, want 0", code)
			}
			stopped := backend.waitLog("that it stopped", msgIs("backend stopped"))
			if n := field(t, stopped, "streams"); n != streams {
				t.Errorf("backend stopped after %v streams, want %d", n, streams)
			}
		})
	}
}

func TestLoadgenHTTP(t *testing.T) {
	_, addr := startBackend(t, "http")
	res := loadgenJSON(t, "http", "--addr", addr, "--conns", "4", "--duration", "300ms", "--warmup", "0")
	wantPositive(t, res, "requests", "requests_per_s", "latency_us.p50")
	if req, b := field(t, res, "requests"), field(t, res, "bytes"); b != req*128 {
		t.Errorf("%v body bytes for %v requests of /small, want 128 each", b, req)
	}
}

func TestLoadgenChurn(t *testing.T) {
	_, addr := startBackend(t, "echo")
	res := loadgenJSON(t, "churn", "--addr", addr, "--conns", "2", "--duration", "300ms", "--warmup", "0")
	wantPositive(t, res, "conns", "conns_per_s", "connect_us.p50", "first_byte_us.p50", "total_us.p50")
}

func TestLoadgenIdle(t *testing.T) {
	_, addr := startBackend(t, "echo")
	res := loadgenJSON(t, "idle", "--addr", addr, "--conns", "50", "--hold", "100ms")
	if held := field(t, res, "held"); held != 50 {
		t.Errorf("held %v conns, want 50", held)
	}
	if res["checked"] != true {
		t.Errorf("the conns were not checked after the hold: %v", res)
	}
	wantPositive(t, res, "dial_s", "held_s")
}

// TestLoadgenThroughTunnel measures a real tunnel: rr through a ferry
// server's public port to an echo backend behind a ferry client.
func TestLoadgenThroughTunnel(t *testing.T) {
	_, backend := startBackend(t, "echo")
	_, srvAddr := startServer(t, "--token", "s3cret")
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret",
		"--id", "loadgen-rr", "--tunnel", "echo="+backend+":0")
	line := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
		addr, _ := m["public_addr"].(string)
		return addr != "" && m["msg"] == "tunnel echo ready at "+addr
	})
	public := line["public_addr"].(string)
	res := loadgenJSON(t, "rr", "--addr", public, "--conns", "4", "--duration", "300ms", "--warmup", "100ms")
	wantPositive(t, res, "requests", "latency_us.p50")
	if n := field(t, res, "errors"); n != 0 {
		t.Errorf("%v errors through the tunnel", n)
	}
}

// TestLoadgenInterrupted: SIGINT stops a run, which prints what it
// measured so far, marked interrupted, and exits 1.
func TestLoadgenInterrupted(t *testing.T) {
	_, addr := startBackend(t, "echo")
	cmd := exec.Command(ferryBinary(t), "loadgen", "rr", "--addr", addr, "--duration", "1m", "--warmup", "0", "--json")
	setPdeathsig(cmd)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	defer close(exited)
	go func() {
		select {
		case <-exited:
		case <-time.After(generous):
			cmd.Process.Kill() // unblocks the reads below
		}
	}()

	// The first progress line says the run is under way.
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "ferry loadgen: rr to "+addr+": ") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFatal {
		t.Fatalf("interrupted loadgen ended with %v, want exit %d; stderr:\n%s", err, exitFatal, log.String())
	}
	res := decodeReport(t, stdout.String())
	if res["interrupted"] != true {
		t.Errorf("report not marked interrupted: %v", res)
	}
	wantPositive(t, res, "requests", "latency_us.p50")
	if d := field(t, res, "elapsed_s"); d >= 60 {
		t.Errorf("elapsed_s %v: the run was not cut short", d)
	}
}

func TestLoadgenRefusedExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, wl := range []string{"bulk", "rr", "http", "churn", "idle"} {
		t.Run(wl, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, "loadgen", wl, "--addr", addr, "--json")
			if code != exitFatal {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFatal, stderr)
			}
			if stdout != "" {
				t.Errorf("a failed run printed a report:\n%s", stdout)
			}
			// One line that says which command failed and where.
			msg := strings.TrimSpace(stderr)
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "ferry loadgen "+wl+": ") || !strings.Contains(msg, addr) {
				t.Errorf("want one line naming ferry loadgen %s and %s, got:\n%s", wl, addr, stderr)
			}
		})
	}
}

func TestLoadgenUsageErrorsExit2(t *testing.T) {
	// Every case that names an address names this listener: none may dial
	// it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, tc := range []struct {
		name    string
		args    []string
		mention string // the one line must say this
	}{
		{name: "no workload", args: []string{"loadgen"}, mention: "missing WORKLOAD before the flags: want bulk, rr, http, churn or idle"},
		{name: "flag before workload", args: []string{"loadgen", "--addr", addr, "rr"}, mention: "missing WORKLOAD"},
		{name: "unknown workload", args: []string{"loadgen", "ferryboat", "--addr", addr}, mention: "bulk, rr, http, churn or idle"},
		{name: "missing addr", args: []string{"loadgen", "rr"}, mention: "--addr"},
		{name: "negative conns", args: []string{"loadgen", "rr", "--addr", addr, "--conns", "-1"}, mention: "--conns"},
		{name: "negative rate", args: []string{"loadgen", "rr", "--addr", addr, "--rate", "-5"}, mention: "--rate"},
		{name: "zero duration", args: []string{"loadgen", "bulk", "--addr", addr, "--duration", "0"}, mention: "--duration"},
		{name: "negative warmup", args: []string{"loadgen", "churn", "--addr", addr, "--warmup", "-1s"}, mention: "--warmup"},
		{name: "bad direction", args: []string{"loadgen", "bulk", "--addr", addr, "--direction", "sideways"}, mention: "--direction"},
		{name: "churn size", args: []string{"loadgen", "churn", "--addr", addr, "--size", "70000"}, mention: "--size"},
		{name: "http path", args: []string{"loadgen", "http", "--addr", addr, "--path", "/big"}, mention: "--path"},
		{name: "idle rate", args: []string{"loadgen", "idle", "--addr", addr, "--rate", "0"}, mention: "--rate"},
		{name: "another workload's flag", args: []string{"loadgen", "rr", "--addr", addr, "--streams", "2"}, mention: "unknown flag --streams; see 'ferry loadgen rr -h'"},
		{name: "stray argument", args: []string{"loadgen", "rr", "--addr", addr, "extra"}, mention: `unexpected argument "extra"`},
		{name: "no backend kind", args: []string{"backend"}, mention: "missing KIND: want sink, source, echo or http"},
		{name: "unknown backend kind", args: []string{"backend", "ferryboat"}, mention: "sink, source, echo or http"},
		{name: "bad backend flag", args: []string{"backend", "echo", "--port", "1"}, mention: "unknown flag --port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("printed on stdout:\n%s", stdout)
			}
			if msg := strings.TrimSpace(stderr); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.mention) {
				t.Errorf("want one line mentioning %q, got:\n%s", tc.mention, stderr)
			}
		})
	}
	// A dial would have completed its handshake into the listen backlog
	// before the process exited, so it would be waiting here now.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("a command with a usage error dialled its --addr")
	}
}

func TestLoadgenHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{args: []string{"loadgen", "-h"}, want: []string{"bulk", "rr", "http", "churn", "idle"}},
		{args: []string{"help", "loadgen"}, want: []string{"WORKLOAD"}},
		{args: []string{"loadgen", "rr", "-h"}, want: []string{"--rate", "--warmup", "--json", "-q"}},
		{args: []string{"loadgen", "idle", "-h"}, want: []string{"--hold", "--conns"}},
		{args: []string{"backend", "-h"}, want: []string{"sink", "source", "echo", "http", "--listen"}},
		{args: []string{"help"}, want: []string{"loadgen", "backend"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("help wrote to stderr:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help on stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestBackendListenInUseExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := startFerry(t, "backend", "backend", "echo", "--listen", ln.Addr().String())
	if code := b.wait(); code != exitFatal {
		t.Fatalf("backend on a busy port exited %d, want %d", code, exitFatal)
	}
	b.waitLog("why it did not start", msgIs("cannot start backend"))
}
