//go:build unix

package inputfile

import (
	"os"
	"syscall"
)

// openNonblock opens path read-only with O_NONBLOCK, so that opening a FIFO
// with no writer, or a device, returns at once instead of waiting, and
// O_CLOEXEC, so that exec'd health checks do not inherit it.
func openNonblock(path string, noFollow bool) (*os.File, error) {
	flags := syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		// Regular files ignore O_NONBLOCK; os.NewFile sees the flag and
		// tries the poller, which refuses regular files, so reads block
		// as usual.
		return os.NewFile(uintptr(fd), path), nil
	}
}
