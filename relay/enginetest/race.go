//go:build race

package enginetest

// RaceEnabled reports whether the race detector is on. Under it the suite
// shrinks what would otherwise take minutes or exceed the detector's limit of
// 8128 live goroutines.
const RaceEnabled = true

const (
	// LargePayload is the bulk transfer size: 64 MiB, 8 MiB under the race
	// detector.
	LargePayload = 8 << 20

	// manyPairs is how many pairs run at once in the concurrency scenario:
	// each costs four goroutines (two in the test, two in a goroutine engine).
	manyPairs = 100
)
