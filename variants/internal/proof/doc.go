// Package proof helps engine tests prove which data path ran, from the
// outside: it moves bytes through an engine and reads the kernel's count of
// bytes the process got from read(2) (rchar in /proc/self/io, Linux only).
// A relay that copies through user space reads every relayed byte once more;
// one that splices reads none of them.
//
//	read := proof.ReadDuring(t, e, n, 1) // the test's own receiver reads n
//	// read is about n when e splices, at least 2n when it copies.
package proof
