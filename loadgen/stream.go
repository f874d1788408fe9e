package loadgen

import (
	"hash/crc32"
)

// Stream is what one side saw of a byte stream: how many bytes, and their
// checksum. Two Streams are equal when the bytes arrived complete and in order
// (up to the odds of a CRC collision).
type Stream struct {
	Bytes int64
	Sum   uint32 // CRC-32C (Castagnoli) of every byte, in order
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// add accounts for p, the next bytes of the stream.
func (s *Stream) add(p []byte) {
	s.Bytes += int64(len(p))
	s.Sum = crc32.Update(s.Sum, castagnoli, p)
}

// Checksum returns the Stream of p: its length and CRC-32C. Tests use it to
// predict what a Sink must report for known bytes.
func Checksum(p []byte) Stream {
	var s Stream
	s.add(p)
	return s
}
