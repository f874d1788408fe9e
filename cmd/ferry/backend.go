package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/ferry-tunnel/ferry/loadgen"
)

// A backendKind is one of the loadgen backends `ferry backend` can run.
type backendKind struct {
	name    string
	summary string
	start   func(addr string) (backendServer, error)
	// streams, when set, reports each stream the backend finished, so the
	// backend can log what it saw for the user to hold against the
	// loadgen's figures. Kinds without a per-stream record leave it nil.
	streams func(backendServer) streamRecord
}

// backendServer is what every loadgen backend is.
type backendServer interface {
	Addr() net.Addr
	Close() error
}

// streamRecord reads the streams a Sink or a Source finished, as one type.
type streamRecord struct {
	msg  string // the log message for each stream
	wait func(ctx context.Context, n int) ([]finishedStream, error)
	all  func() []finishedStream
}

// finishedStream is a loadgen.Received or loadgen.Sent.
type finishedStream struct {
	loadgen.Stream
	Err error
}

var backendKinds = []backendKind{
	{
		name: "sink", summary: "read each connection to EOF, never write; for 'ferry loadgen bulk' (up)",
		start: func(addr string) (backendServer, error) { return loadgen.NewSink(addr) },
		streams: func(b backendServer) streamRecord {
			s := b.(*loadgen.Sink)
			conv := func(rs []loadgen.Received) []finishedStream {
				out := make([]finishedStream, len(rs))
				for i, r := range rs {
					out[i] = finishedStream{r.Stream, r.Err}
				}
				return out
			}
			return streamRecord{
				msg: "stream received",
				wait: func(ctx context.Context, n int) ([]finishedStream, error) {
					rs, err := s.Wait(ctx, n)
					return conv(rs), err
				},
				all: func() []finishedStream { return conv(s.Received()) },
			}
		},
	},
	{
		name: "source", summary: "send each connection the stream it asks for; for 'ferry loadgen bulk --direction down'",
		start: func(addr string) (backendServer, error) { return loadgen.NewSource(addr) },
		streams: func(b backendServer) streamRecord {
			s := b.(*loadgen.Source)
			conv := func(ss []loadgen.Sent) []finishedStream {
				out := make([]finishedStream, len(ss))
				for i, r := range ss {
					out[i] = finishedStream{r.Stream, r.Err}
				}
				return out
			}
			return streamRecord{
				msg: "stream sent",
				wait: func(ctx context.Context, n int) ([]finishedStream, error) {
					ss, err := s.Wait(ctx, n)
					return conv(ss), err
				},
				all: func() []finishedStream { return conv(s.Sent()) },
			}
		},
	},
	{
		name: "echo", summary: "write back every byte read until EOF; for rr, churn and idle",
		start: func(addr string) (backendServer, error) { return loadgen.NewEcho(addr) },
	},
	{
		name: "http", summary: "HTTP/1.1: GET /small (128 bytes) and GET /1m (1 MiB); for 'ferry loadgen http'",
		start: func(addr string) (backendServer, error) { return loadgen.NewHTTPBackend(addr) },
	},
}

// backendNames is "sink, source, echo or http", for messages.
func backendNames() string {
	names := make([]string, len(backendKinds))
	for i, k := range backendKinds {
		names[i] = k.name
	}
	return orList(names)
}

// orList joins words as "a, b, c or d".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func parseBackend(args []string) (kind backendKind, listen string, lf logFlags, err error) {
	fs := newFlagSet("backend", "KIND [--listen ADDR] [flags]")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "`address` to accept on; port 0 lets the kernel pick, and the backend logs the address")
	lf.register(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: ferry backend KIND [--listen ADDR] [flags]\n\nKinds:\n")
		for _, k := range backendKinds {
			fmt.Fprintf(w, "  %-6s  %s\n", k.name, k.summary)
		}
		fmt.Fprintf(w, "\nFlags:\n")
		printFlags(w, fs)
	}
	name, rest, ok := firstWord(args)
	if !ok {
		if err := parseFlags(fs, args); err != nil {
			return kind, listen, lf, err // -h, or a bad flag
		}
		return kind, listen, lf, &usageError{cmd: fs.Name(), msg: "missing KIND: want " + backendNames()}
	}
	found := false
	for _, k := range backendKinds {
		if k.name == name {
			kind, found = k, true
		}
	}
	if !found {
		return kind, listen, lf, argsErrorf("unknown kind %q: want %s", name, backendNames())
	}
	return kind, listen, lf, parseFlags(fs, rest)
}

// runBackend serves one loadgen backend until SIGINT or SIGTERM. A sink or
// source logs every stream it finished, with its byte count and CRC-32C,
// which must equal what `ferry loadgen bulk` printed for the same stream.
func runBackend(args []string, stdout, stderr io.Writer) int {
	kind, listen, lf, err := parseBackend(args)
	if err != nil {
		return argsExit("backend", err, stdout, stderr)
	}
	log := lf.logger(stderr)
	b, err := kind.start(listen)
	if err != nil {
		log.Error("cannot start backend", "kind", kind.name, "err", err)
		return exitFatal
	}
	log.Info("ferry backend listening", "kind", kind.name, "addr", b.Addr().String())
	sigs, stop := notifySignals()
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec streamRecord
	logged := make(chan int, 1) // how many streams the logger logged
	if kind.streams != nil {
		rec = kind.streams(b)
		go func() { logged <- logStreams(ctx, rec, log) }()
	} else {
		logged <- 0
	}

	sig := <-sigs
	log.Info("shutting down; a second signal exits at once", "signal", sig.String())
	exitOnSecondSignal(sigs, log)
	cancel()
	n := <-logged
	err = b.Close()
	if err != nil {
		log.Warn("close", "err", err)
	}
	if kind.streams == nil {
		log.Info("backend stopped", "kind", kind.name)
		return exitOK
	}
	// Close records the streams it cut short; log those too.
	all := rec.all()
	for i, s := range all[n:] {
		logStream(log, rec.msg, n+i, s)
	}
	log.Info("backend stopped", "kind", kind.name, "streams", len(all))
	return exitOK
}

// logStreams logs each stream as it finishes, until ctx ends, and returns
// how many it logged. Streams are numbered from 0 in the order they ended,
// which for parallel streams need not be the order they were dialled.
func logStreams(ctx context.Context, rec streamRecord, log *slog.Logger) int {
	n := 0
	for {
		got, err := rec.wait(ctx, n+1)
		if err != nil {
			return n
		}
		for ; n < len(got); n++ {
			logStream(log, rec.msg, n, got[n])
		}
	}
}

func logStream(log *slog.Logger, msg string, i int, s finishedStream) {
	log.Info(msg, "stream", i, "bytes", s.Bytes, "crc32c", fmt.Sprintf("%08x", s.Sum), "err", s.Err)
}
