package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/ferry-tunnel/ferry/loadgen"
)

// Config says what to measure. Ferry is required; every other zero field
// means the documented default.
type Config struct {
	// Ferry is the path of the ferry binary to run. Required.
	Ferry string
	// Engines to measure, in order. Zero means every engine the binary
	// has, as `ferry engines` lists them: the binary is what is measured,
	// so it, not this build, says which engines exist.
	Engines []string
	// Duration is how long the bulk stream writes. Zero means 3 s.
	Duration time.Duration
	// StartTimeout bounds each wait for a process to start, for the tunnel
	// to be ready, and for the stream to drain and processes to stop. Zero
	// means 20 s: generous, as CI machines are small and busy.
	StartTimeout time.Duration
	// Progress receives a line as each engine starts and ends. Nil discards.
	Progress io.Writer
}

// Row is one engine's measurement.
type Row struct {
	Engine   string
	Sent     loadgen.Stream   // what the writer pushed into the tunnel
	Received loadgen.Received // what the sink read out of it
	Elapsed  time.Duration    // first byte written to the sink reading EOF

	// CPU time (user+system, all threads) each ferry process spent during
	// Elapsed.
	ServerCPU, ClientCPU time.Duration

	// Counters the processes logged as they shut down (server and client,
	// with the engine's under "engine."). Nil when a process did not stop
	// cleanly.
	ServerCounters, ClientCounters map[string]uint64

	// Commands are the command lines that ran, token elided.
	Commands []string
}

// OK says whether the sink received exactly the bytes sent.
func (r Row) OK() bool {
	return r.Received.Err == nil && r.Sent.Bytes > 0 && r.Received.Stream == r.Sent
}

// MBps is the throughput in 10^6 bytes per second.
func (r Row) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// CPUPerGB is cpu seconds per 10^9 bytes received.
func (r Row) CPUPerGB(cpu time.Duration) float64 {
	if r.Received.Bytes == 0 {
		return 0
	}
	return cpu.Seconds() / (float64(r.Received.Bytes) / 1e9)
}

// ErrMismatch means the sink did not receive exactly what was sent.
var ErrMismatch = errors.New("bench: bytes received differ from bytes sent")

// Run measures each engine in turn and returns a row for every engine whose
// stream completed, intact or not (a mismatched row fails Row.OK). The error
// joins every engine's failure: a process that would not start or died, a
// tunnel that never became ready, a broken stream, or ErrMismatch.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if cfg.Ferry == "" {
		return nil, errors.New("bench: Config.Ferry (the ferry binary) is required")
	}
	if len(cfg.Engines) == 0 {
		var err error
		if cfg.Engines, err = Engines(cfg.Ferry); err != nil {
			return nil, err
		}
	}
	if cfg.Duration == 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	var (
		rows []Row
		errs []error
	)
	for _, engine := range cfg.Engines {
		if err := ctx.Err(); err != nil {
			if len(errs) == 0 { // else the last failure already says so
				errs = append(errs, err)
			}
			break
		}
		fmt.Fprintf(cfg.Progress, "bench: %s: %v of bulk through a tunnel\n", engine, cfg.Duration)
		row, err := runEngine(ctx, cfg, engine)
		if err == nil || errors.Is(err, ErrMismatch) {
			rows = append(rows, row)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("engine %s: %w", engine, err))
			fmt.Fprintf(cfg.Progress, "bench: %s: FAILED: %v\n", engine, err)
			continue
		}
		fmt.Fprintf(cfg.Progress, "bench: %s: %.0f MB/s\n", engine, row.MBps())
	}
	return rows, errors.Join(errs...)
}

// Engines returns the engines the ferry binary at path has, from `ferry
// engines`: the first word of each line.
func Engines(ferry string) ([]string, error) {
	out, err := exec.Command(ferry, "engines").Output()
	if err != nil {
		return nil, fmt.Errorf("bench: %s engines: %w", ferry, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("bench: %s engines listed no engine", ferry)
	}
	return names, nil
}

// runEngine measures one engine: sink, server, client, one stream. Every
// process it starts is killed before it returns, whatever happens.
func runEngine(ctx context.Context, cfg Config, engine string) (row Row, err error) {
	row.Engine = engine
	sink, err := loadgen.NewSink("127.0.0.1:0")
	if err != nil {
		return row, err
	}
	defer sink.Close()
	token := randomToken()

	// The server listens on a port the kernel picks and logs it, so two
	// runs never race for a port.
	srvArgs := []string{"server", "--listen", "127.0.0.1:0", "--token", token, "--engine", engine,
		"--log-format", "json"}
	srv, err := startFerry(cfg.Ferry, "server", srvArgs...)
	if err != nil {
		return row, err
	}
	defer srv.kill()
	wait, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	line, err := srv.waitLog(wait, "its address", func(m map[string]any) bool {
		return m["msg"] == "ferry server listening" && m["addr"] != nil
	})
	if err != nil {
		return row, err
	}
	srvAddr, _ := line["addr"].(string)

	// Public port 0: the server picks one and the client logs it.
	clArgs := []string{"client", "--server", srvAddr, "--token", token, "--id", "bench-" + engine,
		"--engine", engine, "--tunnel", "bulk=" + sink.Addr().String() + ":0", "--log-format", "json"}
	cl, err := startFerry(cfg.Ferry, "client", clArgs...)
	if err != nil {
		return row, err
	}
	defer cl.kill()
	row.Commands = []string{commandLine(cfg.Ferry, srvArgs, token), commandLine(cfg.Ferry, clArgs, token)}
	line, err = cl.waitLog(wait, "the tunnel's public address", func(m map[string]any) bool {
		addr, _ := m["public_addr"].(string)
		return m["tunnel"] == "bulk" && addr != ""
	})
	if err != nil {
		return row, err
	}
	public, _ := line["public_addr"].(string)
	conn, err := dialUntil(wait, public)
	if err != nil {
		return row, fmt.Errorf("tunnel never accepted at %s: %w", public, err)
	}
	defer conn.Close()

	// The measured window: from the first byte written until the sink has
	// read the last, CPU sampled on both sides of it.
	srv0, err := srv.cpu()
	if err != nil {
		return row, err
	}
	cl0, err := cl.cpu()
	if err != nil {
		return row, err
	}
	start := time.Now()
	streamCtx, cancelStream := context.WithTimeout(ctx, cfg.Duration+cfg.StartTimeout)
	defer cancelStream()
	row.Sent, err = loadgen.Writer{Duration: cfg.Duration}.Run(streamCtx, conn)
	if err != nil {
		return row, fmt.Errorf("writing into the tunnel after %d bytes: %w%s", row.Sent.Bytes, err, diedNote(srv, cl))
	}
	got, err := sink.Wait(streamCtx, 1)
	if err != nil {
		return row, fmt.Errorf("the sink did not see the stream end: %w%s", err, diedNote(srv, cl))
	}
	row.Elapsed = time.Since(start)
	row.Received = got[0]
	srv1, err := srv.cpu()
	if err != nil {
		return row, err
	}
	cl1, err := cl.cpu()
	if err != nil {
		return row, err
	}
	row.ServerCPU, row.ClientCPU = srv1-srv0, cl1-cl0

	// A clean stop is part of the result: both must exit 0 and log their
	// counters.
	stopErr := errors.Join(cl.stop(cfg.StartTimeout), srv.stop(cfg.StartTimeout))
	row.ServerCounters = srv.counters("server stopped")
	row.ClientCounters = cl.counters("client stopped")
	if !row.OK() {
		return row, fmt.Errorf("%w: sent %d bytes crc32c %08x, sink got %d bytes crc32c %08x (stream error: %v)",
			ErrMismatch, row.Sent.Bytes, row.Sent.Sum, row.Received.Bytes, row.Received.Sum, row.Received.Err)
	}
	return row, stopErr
}

// dialUntil dials addr until it connects or ctx ends.
func dialUntil(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// diedNote says which ferry process exited, if one did, to explain a failed
// stream.
func diedNote(procs ...*ferryProc) string {
	var note string
	for _, p := range procs {
		if ok, how := p.exited(); ok {
			note += fmt.Sprintf("\nferry %s %s; its log ends:\n%s", p.name, how, p.logTail())
		}
	}
	return note
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// commandLine renders a command for the record, with the token elided.
func commandLine(bin string, args []string, token string) string {
	s := bin
	for _, a := range args {
		if a == token {
			a = "TOKEN"
		}
		s += " " + a
	}
	return s
}
