package relay_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64 // 0: an error
	}{
		{"1", 1},
		{"500kB", 500e3},
		{"10MB", 10e6},
		{"10 MB/s", 10e6},
		{"1.5GB", 1.5e9},
		{"64KiB", 64 << 10},
		{"2MiB", 2 << 20},
		{"1GiB", 1 << 30},
		{"100b", 100},
		{"", 0},
		{"0", 0},
		{"0.5", 0},
		{"-1MB", 0},
		{"ten MB", 0},
		{"10Mbit", 0},
	} {
		got, err := relay.ParseRate(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("ParseRate(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestBandwidthCap: a capped tunnel's connections together move no faster
// than its rate each way, bytes intact; a tunnel without a rule of its own
// is not capped. Only the lower bound on time is checked: a busy machine
// can make a run slower, never faster.
func TestBandwidthCap(t *testing.T) {
	const (
		rate  = 4e6 // bytes per second, each way
		burst = rate / 10
		conns = 2
		each  = 4 << 20 // bytes each connection sends, and gets back
	)
	for _, engine := range []string{"gocopy", "gocopybuf"} {
		t.Run("engine="+engine, func(t *testing.T) {
			checkLeaks(t)
			srv := startServer(t, engine, func(c *relay.ServerConfig) {
				c.Bandwidth = []relay.BandwidthRule{{Tunnel: "capped", Rate: "4MB"}}
			})
			echo := echoServer(t)
			cl := startClient(t, srv.Addr().String(), engine, []relay.TunnelConfig{
				{Name: "capped", Local: echo}, {Name: "free", Local: echo},
			}, nil)
			capped, free := waitTunnel(t, cl, "capped"), waitTunnel(t, cl, "free")
			if err := echoRoundTrip(free, each); err != nil {
				t.Fatalf("uncapped tunnel: %v", err)
			}

			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- echoRoundTrip(capped, each)
				}()
			}
			wg.Wait()
			took := time.Since(start)
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if least := time.Duration((conns*each - burst) / rate * float64(time.Second)); took < least {
				t.Errorf("%d bytes each way took %v through a %v B/s cap: want at least %v", conns*each, took, rate, least)
			}
			t.Logf("%d bytes each way in %v: %.2f MB/s", conns*each, took, conns*each/took.Seconds()/1e6)
		})
	}
}

// TestBandwidthNeedsUserSpaceEngine: like TLS data connections, a cap is
// refused with an engine named explicitly that cannot honour it.
func TestBandwidthNeedsUserSpaceEngine(t *testing.T) {
	for _, engine := range relay.Engines() {
		if relaysStreams(t, engine) {
			continue
		}
		_, err := relay.NewServer(relay.ServerConfig{Listen: "127.0.0.1:0", Token: token, Engine: engine,
			Bandwidth: []relay.BandwidthRule{{Tunnel: "*", Rate: "1MB"}}})
		if !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), "cannot relay") {
			t.Errorf("%s: got %v, want a config error saying the engine cannot relay", engine, err)
		}
	}
}
