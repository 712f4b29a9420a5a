package routes

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// TestLoadFileRefusesNonFilesPromptly: a named pipe or a device given as
// the routes file is refused at once (issue 19: a FIFO hung the reloader).
func TestLoadFileRefusesNonFilesPromptly(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "routes.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "named pipe"},
		{"/dev/zero", "character device"},
		{t.TempDir(), "directory"},
	} {
		done := make(chan error, 1)
		go func() { _, err := LoadFile(c.path, testASNs, testDCs); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), c.path+": not a regular file ("+"a "+c.want) {
				t.Errorf("LoadFile(%s): %v", c.path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("LoadFile(%s) still blocked after 10s", c.path)
		}
	}
}
