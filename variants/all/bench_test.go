package all_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
)

// benchEngines runs f as engine=NAME/size=SIZE for every registered engine
// and size, each with a new engine that is closed afterwards.
func benchEngines(b *testing.B, sizes []int, f func(b *testing.B, e relay.Engine, size int)) {
	for _, name := range relay.Engines() {
		b.Run("engine="+name, func(b *testing.B) {
			for _, size := range sizes {
				b.Run("size="+sizeName(size), func(b *testing.B) {
					e, err := relay.NewEngine(name, relay.Options{})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { e.Close() })
					f(b, e, size)
				})
			}
		})
	}
}

// BenchmarkBulk streams one way through one pair: each op moves size bytes
// from C1 to C2, written and read in size-byte calls.
func BenchmarkBulk(b *testing.B) {
	benchEngines(b, []int{4 << 10, 64 << 10, 1 << 20}, func(b *testing.B, e relay.Engine, size int) {
		p := enginetest.NewPair(b, e)
		wbuf, rbuf := make([]byte, size), make([]byte, size)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		b.ResetTimer()
		sent := make(chan error, 1)
		go func() {
			for range b.N {
				if _, err := p.C1.Write(wbuf); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		for range b.N {
			if _, err := io.ReadFull(p.C2, rbuf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkPingPong bounces a small message C1 → C2 → C1 through one pair:
// each op is one round trip, so it measures the engine's latency per wake-up.
func BenchmarkPingPong(b *testing.B) {
	benchEngines(b, []int{64}, func(b *testing.B, e relay.Engine, size int) {
		p := enginetest.NewPair(b, e)
		echoed := make(chan error, 1)
		go func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(p.C2, buf); err != nil {
					if err == io.EOF {
						err = nil
					}
					echoed <- err
					return
				}
				if _, err := p.C2.Write(buf); err != nil {
					echoed <- err
					return
				}
			}
		}()
		buf := make([]byte, size)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := p.C1.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(p.C1, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		p.C1.CloseWrite()
		if err := <-echoed; err != nil {
			b.Fatal(err)
		}
	})
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
