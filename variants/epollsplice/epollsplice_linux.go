package epollsplice

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

func init() {
	relay.Register(Name, newEngine)
}

// maxPipeSize bounds PipeSizeEnv. Root may go past fs.pipe-max-size (1 MiB by
// default); more than this only pins kernel memory per busy direction.
const maxPipeSize = 64 << 20

// config is what an engine is made with; tests set alloc to fake a pipe
// shortage.
type config struct {
	pipeSize int
	alloc    pipeAllocator // nil means newPipe
}

// newEngine is the reactor with pipes as its conduits: the pipe size from
// PipeSizeEnv, else DefaultPipeSize; the number of loops from
// reactor.LoopsEnv, else GOMAXPROCS.
func newEngine(opts relay.Options) (relay.Engine, error) {
	size, err := pipeSize()
	if err != nil {
		return nil, err
	}
	return newEngineWith(opts, config{pipeSize: size})
}

func newEngineWith(opts relay.Options, cfg config) (*reactor.Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.alloc == nil {
		cfg.alloc = newPipe
	}
	// One warning per engine, whichever loop meets the shortage first.
	warn := &fallbackLog{log: log}
	return reactor.New(opts, reactor.Config{
		Name: Name,
		NewPool: func() reactor.Pool {
			return newPipePool(cfg.pipeSize, cfg.alloc, warn)
		},
	})
}

// pipeSize reads PipeSizeEnv.
func pipeSize() (int, error) {
	v := os.Getenv(PipeSizeEnv)
	if v == "" {
		return DefaultPipeSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 4096 || n > maxPipeSize {
		return 0, fmt.Errorf("%w: %s=%q: want a pipe size in bytes from 4096 to %d", relay.ErrConfig, PipeSizeEnv, v, maxPipeSize)
	}
	return n, nil
}

// fallbackLog logs the first fallback to copying of an engine, once.
type fallbackLog struct {
	log  *slog.Logger
	once sync.Once
}

func (f *fallbackLog) warn(want, got int, err error) {
	f.once.Do(func() {
		f.log.Warn("splice pipes cannot be sized; copying through user space instead until they can",
			"engine", Name, "pipe_size_wanted", want, "pipe_size_got", got, "err", err)
	})
}
