// Package enginetest is the conformance suite for relay.Engine: every
// scenario the engine contract promises, run over real loopback sockets.
//
// Each scenario makes pairs C1 <-> a [engine] b <-> C2 on 127.0.0.1:0, hands
// a and b to the engine and drives C1 and C2: payloads from 0 B to 64 MiB
// checked by SHA-256, half-close and reset each way, a reset from a side
// whose direction is stuck on a peer that never reads (which no copy then
// reads, and which must still end the pair), a stalled reader that must
// not make the engine buffer without bound, a thousand pairs at once,
// idle pairs with and without an idle timeout, Close with pairs live, Relay
// after Close, and the counters. Every scenario gets its own engine and ends
// by closing it and checking that done ran once per pair, that the common
// counters match the results, and that the process's open fds and goroutines
// are back where they started. (The suite reads the contract's counters
// strictly: pairs_started and pairs_done count pairs relayed while the engine
// was open, a Relay on a closed engine counts nothing, and resets counts
// every pair whose Result has an error, idle timeouts and Close included.)
// Under the race detector the largest payload and the number of concurrent
// pairs shrink (see RaceEnabled).
//
// RunStreams runs the same scenarios for an engine that implements
// relay.StreamRelayer, through RelayStreams, with b <-> C2 a TLS 1.3
// connection (a throwaway self-signed certificate, made in memory) and a
// still plain TCP: the engine relays between a relay.TCPStream and a
// relay.TLSStream, the case of a TLS data connection.
//
// An engine is tested by being registered and imported by variants/all,
// whose test runs the suite for every registered engine, and RunStreams for
// every one that relays Streams. To run it on one engine directly:
//
//	func TestConformance(t *testing.T) {
//		newEngine := func(o relay.Options) (relay.Engine, error) {
//			return relay.NewEngine("myengine", o)
//		}
//		enginetest.Run(t, newEngine)
//		enginetest.RunStreams(t, newEngine) // if it implements relay.StreamRelayer
//	}
//
// NewPair is exported for engine packages' own tests and benchmarks.
package enginetest
