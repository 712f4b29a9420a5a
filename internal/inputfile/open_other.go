//go:build !unix

package inputfile

import "os"

// openNonblock opens path read-only; where there are no FIFOs to block on,
// a plain open is enough. noFollow is not supported there.
func openNonblock(path string, noFollow bool) (*os.File, error) {
	return os.Open(path)
}
