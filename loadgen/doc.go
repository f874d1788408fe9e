// Package loadgen drives bulk traffic through a relay and proves it arrived
// intact: a Writer pushes a deterministic byte pattern into a connection for a
// while, a Sink backend reads each stream to its end, and both sides keep a
// byte count and a CRC-32C of the stream, so a harness can compare the two.
//
// The bench harness (package bench) points a ferry tunnel at a Sink and a
// Writer at the tunnel's public port:
//
//	sink, err := loadgen.NewSink("127.0.0.1:0")
//	if err != nil { ... }
//	defer sink.Close()
//	// ... expose sink.Addr() through a tunnel at publicAddr ...
//	conn, err := net.Dial("tcp", publicAddr)
//	if err != nil { ... }
//	sent, err := loadgen.Writer{Duration: 3 * time.Second}.Run(ctx, conn)
//	if err != nil { ... }
//	got, err := sink.Wait(ctx, 1)
//	if err != nil { ... }
//	ok := got[0].Stream == sent // bytes and checksum both match
//
// Checksums use CRC-32C (Castagnoli), which has a hardware path on amd64 and
// arm64, so checking costs the harness little CPU next to the relay it
// measures.
package loadgen
