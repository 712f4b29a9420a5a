package routes

import (
	"errors"
	"os"
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

// TestLoadFileQuotesShortExcerpts: a bad token is quoted escaped and cut
// at 40 bytes, however long the line.
func TestLoadFileQuotesShortExcerpts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "routes.txt")
	long := "SECRET" + strings.Repeat("x", 1000)
	if err := os.WriteFile(p, []byte(long+" ams\n192.0.2.0/24 "+long+"\n192.0.2.0/24 ams \x1b[31m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p, testASNs, testDCs)
	if err == nil || strings.Contains(err.Error(), strings.Repeat("x", 40)) || strings.ContainsRune(err.Error(), 0x1b) ||
		!strings.Contains(err.Error(), "routes.txt:1: bad prefix") || !strings.Contains(err.Error(), "routes.txt:2: unknown datacenter") ||
		!strings.Contains(err.Error(), "routes.txt:3: path length") {
		t.Errorf("error %q", err)
	}
}
