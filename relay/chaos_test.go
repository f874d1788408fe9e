package relay_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/ferry-tunnel/ferry/relay"
)

// chaosProxy sits between a ferry client and server. It forwards bytes
// unchanged, knows each connection's kind from its preamble, and on demand
// kills connections of a kind or freezes all forwarding, to play a network
// that drops connections or goes silent.
type chaosProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	gate   sync.RWMutex // held for writing while frozen
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[*chaosConn]bool
}

type chaosConn struct {
	kind      byte
	down, up  net.Conn // client side, server side
	closeOnce sync.Once
}

func newChaosProxy(t *testing.T, target string) *chaosProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &chaosProxy{t: t, ln: ln, target: target, conns: map[*chaosConn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.down.Close()
			c.up.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *chaosProxy) addr() string { return p.ln.Addr().String() }

func (p *chaosProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			pre := make([]byte, len(relay.Magic)+2)
			if _, err := io.ReadFull(down, pre); err != nil {
				down.Close()
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				down.Close()
				return
			}
			c := &chaosConn{kind: pre[len(pre)-1], down: down, up: up}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			up.Write(pre)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(up, down) }()
			go func() { defer wg.Done(); p.pipe(down, up) }()
			wg.Wait()
			p.close(c)
		}()
	}
}

// pipe copies src to dst, passing a half-close on as a half-close and any
// error on as a close of both sides.
func (p *chaosProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate.RLock()
			_, werr := dst.Write(buf[:n])
			p.gate.RUnlock()
			if werr != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		if err == io.EOF {
			dst.(*net.TCPConn).CloseWrite()
			return
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

func (p *chaosProxy) close(c *chaosConn) {
	c.closeOnce.Do(func() {
		c.down.Close()
		c.up.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	})
}

// kill closes every connection of the given kind on both sides,
// and returns how many it closed. When it returns, the server's side of each
// has its FIN: the server's kernel knows, whether or not ferry has looked.
func (p *chaosProxy) kill(kind byte) int {
	p.mu.Lock()
	var victims []*chaosConn
	for c := range p.conns {
		if c.kind == kind {
			victims = append(victims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		c.up.(*net.TCPConn).CloseWrite()
		waitFINAcked(c.up.(*net.TCPConn))
		p.close(c)
	}
	return len(victims)
}

func (p *chaosProxy) count(kind byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if c.kind == kind {
			n++
		}
	}
	return n
}

// freeze stops forwarding in both directions (bytes are read and held) until
// the returned function is called: to each side the peer went silent without
// closing anything.
func (p *chaosProxy) freeze() (thaw func()) {
	p.gate.Lock()
	thaw = sync.OnceFunc(p.gate.Unlock)
	p.t.Cleanup(thaw) // before the proxy's own cleanup, which needs the gate
	return thaw
}
