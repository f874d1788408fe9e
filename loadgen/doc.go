// Package loadgen is ferry's load generator: backends to put behind a relay
// and workloads to drive through it, each of which proves that what came out
// is what went in, so a relay that loses or corrupts bytes fails a run
// instead of winning it. It measures any TCP relay, not only ferry: point a
// workload at an address and a backend behind it (`ferry loadgen` and
// `ferry backend` are the command line).
//
// Backends, each on any address ("127.0.0.1:0") with Addr and Close:
//
//	Sink         reads every stream to its end; records bytes and CRC-32C
//	Source       writes the pattern for as long or as much as the client asks
//	Echo         writes back every byte it reads, until EOF
//	HTTPBackend  fasthttp; GET /small (128 bytes) and /1m (1 MiB)
//
// Workloads, each a struct whose zero fields mean documented defaults and
// whose Run returns a result and an error:
//
//	Bulk   N parallel streams one way (Up into a Sink, Down from a Source)
//	       for a duration; VerifyReceived / VerifySent compare checksums
//	RR     fixed-size request/response on persistent connections, closed
//	       loop or open loop at a rate; open-loop latency counts from the
//	       intended send time (coordinated omission corrected)
//	HTTP   fasthttp client, keep-alive, closed loop; every body checked
//	Churn  a new connection per request: connect, send, read the echo, close
//	Idle   hold K connections, each proven live by an echo round trip
//
// Latencies go into a Histogram: log-linear buckets with a relative error of
// at most 1/128, fixed memory, mergeable. Checksums are CRC-32C, which has a
// hardware path, so checking costs little next to the relay measured.
//
//	echo, err := loadgen.NewEcho("127.0.0.1:0")
//	if err != nil { ... }
//	defer echo.Close()
//	// ... put the relay under test in front of echo.Addr() at relayAddr ...
//	res, err := loadgen.RR{Addr: relayAddr, Conns: 1, Duration: 3 * time.Second}.Run(ctx)
//	if err != nil { ... } // a corrupt echo is ErrCorrupt
//	fmt.Println(res.Rate, res.Latency.Quantile(0.99))
package loadgen
