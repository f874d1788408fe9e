package main

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestImpairedNetwork runs a real tunnel across two network namespaces
// joined by a veth pair, the ferry server in one and the client and its
// backend in the other, with nftables dropping 2% of the packets arriving
// in each, and checks that 50 MiB pushed into the public port reach the
// backend intact. It needs root (or CAP_NET_ADMIN), iproute2 and nftables;
// where it cannot set that up it says why and skips.
func TestImpairedNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds namespaces and runs ferry in them")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs iproute2 and nftables): %v", tool, err)
		}
	}
	run := func(args ...string) error {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	id := strconv.Itoa(os.Getpid())
	nsS, nsC := "ferry-s-"+id, "ferry-c-"+id // server side, client side
	vethS, vethC := "fs"+id, "fc"+id         // at most 15 bytes
	if err := run("ip", "netns", "add", nsS); err != nil {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", nsS) })
	setup := [][]string{
		{"ip", "netns", "add", nsC},
		{"ip", "link", "add", vethS, "netns", nsS, "type", "veth", "peer", "name", vethC, "netns", nsC},
		{"ip", "-n", nsS, "addr", "add", "10.77.0.1/24", "dev", vethS},
		{"ip", "-n", nsC, "addr", "add", "10.77.0.2/24", "dev", vethC},
		{"ip", "-n", nsS, "link", "set", vethS, "up"},
		{"ip", "-n", nsC, "link", "set", vethC, "up"},
		{"ip", "-n", nsS, "link", "set", "lo", "up"},
		{"ip", "-n", nsC, "link", "set", "lo", "up"},
	}
	t.Cleanup(func() { run("ip", "netns", "del", nsC) })
	for _, args := range setup {
		if err := run(args...); err != nil {
			t.Skipf("cannot join the namespaces with a veth pair: %v", err)
		}
	}
	// 2% of the packets arriving over the veth, each way; this kernel has
	// no netem, so nftables' numgen does the dropping.
	for _, side := range []struct{ ns, dev string }{{nsS, vethS}, {nsC, vethC}} {
		nft := func(args ...string) error {
			return run(append([]string{"ip", "netns", "exec", side.ns, "nft"}, args...)...)
		}
		if err := nft("add", "table", "inet", "ferryloss"); err != nil {
			t.Skipf("cannot use nftables here: %v", err)
		}
		if err := nft("add", "chain", "inet", "ferryloss", "in", "{", "type", "filter", "hook", "input", "priority", "0", ";", "}"); err != nil {
			t.Skipf("cannot add an nftables chain: %v", err)
		}
		if err := nft("add", "rule", "inet", "ferryloss", "in", "iifname", side.dev, "numgen", "random", "mod", "100", "<", "2", "counter", "drop"); err != nil {
			t.Skipf("cannot add the packet-loss rule: %v", err)
		}
	}

	sink := startFerryIn(t, nsC, "sink", "backend", "sink", "--listen", "127.0.0.1:0")
	sinkAddr := sink.waitLog("its address", msgIs("ferry backend listening"))["addr"].(string)
	srv := startFerryIn(t, nsS, "server", "server", "--listen", "10.77.0.1:0", "--public-bind", "127.0.0.1", "--token", "netns")
	srvAddr := srv.waitLog("its address", msgIs("ferry server listening"))["addr"].(string)
	cl := startFerryIn(t, nsC, "client", "client", "--server", srvAddr, "--token", "netns", "--id", "netns",
		"--tunnel", "bulk="+sinkAddr+":0")
	public := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
		addr, _ := m["public_addr"].(string)
		return addr != "" && m["tunnel"] == "bulk"
	})["public_addr"].(string)

	// 50 MiB into the public port, from inside the server's namespace.
	const size = 50 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	want := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	c, err := dialIn(nsS, public)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(2 * time.Minute))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("writing into the tunnel: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	got := sink.waitLog("the stream's end", msgIs("stream received"))
	if b, _ := got["bytes"].(float64); int(b) != size || got["crc32c"] != fmt.Sprintf("%08x", want) || got["err"] != nil {
		t.Fatalf("the backend received %v bytes, crc32c %v, err %v; sent %d bytes, crc32c %08x", got["bytes"], got["crc32c"], got["err"], size, want)
	}
	elapsed := time.Since(start)
	// The loss was real: the rules dropped packets on the tunnel's path.
	dropped := 0
	for _, ns := range []string{nsS, nsC} {
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "ferryloss", "in").CombinedOutput()
		if err != nil {
			t.Fatalf("reading the drop counter: %v: %s", err, out)
		}
		if _, after, ok := strings.Cut(string(out), "packets "); ok {
			n, _ := strconv.Atoi(strings.Fields(after)[0])
			dropped += n
		}
	}
	if dropped == 0 {
		t.Fatal("nftables dropped no packet: the transfer was not impaired")
	}
	t.Logf("50 MiB through the tunnel in %v, %d packets dropped on the way", elapsed.Round(time.Millisecond), dropped)
}

// dialIn dials addr from inside the network namespace ns: on a locked
// thread that joins ns, dials (the socket stays in ns) and goes back. The
// thread must go back rather than end: the ferry processes' parent-death
// signal fires when the thread that started them ends, and that may be
// this one.
func dialIn(ns, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer home.Close()
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", ns, err)
	}
	c, dialErr := net.DialTimeout("tcp", addr, 20*time.Second)
	if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
		// Stuck in ns: keep the thread locked, so it ends with this
		// goroutine's test rather than serve others from inside ns.
		return c, dialErr
	}
	runtime.UnlockOSThread()
	return c, dialErr
}
