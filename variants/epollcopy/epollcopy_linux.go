package epollcopy

import (
	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/variants/internal/reactor"
)

func init() {
	relay.Register(Name, newEngine)
}

// newEngine is the reactor with user-space buffers as its conduits. The
// number of loops comes from reactor.LoopsEnv (FERRY_EPOLL_LOOPS), else
// GOMAXPROCS.
func newEngine(opts relay.Options) (relay.Engine, error) {
	return reactor.New(opts, reactor.Config{
		Name:    Name,
		NewPool: func() reactor.Pool { return reactor.NewBufferPool(reactor.DefaultBufferSize) },
	})
}
