package proof

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ReadChars returns rchar from /proc/self/io: the bytes every thread of the
// process has been returned by read(2) and its kin. splice(2) does not count.
func ReadChars() (int64, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("rchar: ")); ok {
			return strconv.ParseInt(string(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no rchar in /proc/self/io")
}
