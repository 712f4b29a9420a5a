package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readSoon runs ReadFile in a goroutine and fails the test, instead of
// hanging it, if it has not returned after a generous while.
func readSoon(t *testing.T, path string, opt Options) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := ReadFile(path, opt)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("ReadFile(%s) still blocked after 10s", path)
		return nil, nil
	}
}

func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{
		{fifo, "named pipe"},
		{link, "named pipe"},
		{dir, "directory"},
		{"/dev/zero", "character device"},
	} {
		b, err := readSoon(t, c.path, Options{MaxBytes: 1 << 20})
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.kind) || !strings.HasPrefix(err.Error(), c.path+":") {
			t.Errorf("%s: got %d bytes, error %v; want %q refused as %s", c.path, len(b), err, c.path, c.kind)
		}
	}
}

func TestReadsARegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	want := strings.Repeat("x", 100_000)
	if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := readSoon(t, p, Options{MaxBytes: 100_000})
	if err != nil || string(b) != want {
		t.Fatalf("got %d bytes, %v", len(b), err)
	}
	_, err = readSoon(t, p, Options{MaxBytes: 99_999})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "100000 bytes, the limit is 99999") {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestReadAllStopsAtTheLimit(t *testing.T) {
	// A file that grows after the size check is cut off at the limit.
	_, err := ReadAll(strings.NewReader(strings.Repeat("y", 5000)), "f", 10, 4096)
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "f: ") {
		t.Fatalf("got %v", err)
	}
}

func TestWithinAndNoFollow(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "secret")
	if err := os.WriteFile(secret, []byte("root:hash:1:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(root, "in")
	if err := os.WriteFile(inside, []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	in := filepath.Join(root, "in-link")
	for link, target := range map[string]string{out: "../secret", in: "in"} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := readSoon(t, out, Options{Within: root}); !errors.Is(err, ErrOutside) || strings.Contains(err.Error(), "hash") {
		t.Errorf("link out of root: %v", err)
	}
	if b, err := readSoon(t, in, Options{Within: root}); err != nil || string(b) != "ok\n" {
		t.Errorf("link inside root: %q, %v", b, err)
	}
	if _, err := readSoon(t, in, Options{Within: root, NoFollow: true}); err == nil {
		t.Errorf("NoFollow followed a link")
	}
	// The root itself may be reached through a link.
	rootLink := filepath.Join(base, "root-link")
	if err := os.Symlink("root", rootLink); err != nil {
		t.Fatal(err)
	}
	if _, err := readSoon(t, filepath.Join(rootLink, "in"), Options{Within: rootLink}); err != nil {
		t.Errorf("through a linked root: %v", err)
	}
	if _, err := readSoon(t, secret, Options{Within: rootLink}); !errors.Is(err, ErrOutside) {
		t.Errorf("outside a linked root: %v", err)
	}
}
