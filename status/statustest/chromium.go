// Package statustest drives headless Chromium for the status page's
// browser tests (status/ and cmd/godwit/). It is imported by tests only.
package statustest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const defaultChromium = "/usr/bin/chromium"

// Chromium returns the browser to drive: $GODWIT_CHROMIUM or
// /usr/bin/chromium. It skips the test when there is none, or fails it
// under GODWIT_ACCEPTANCE=1 (make test installs chromium).
func Chromium(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("GODWIT_CHROMIUM")
	if bin == "" {
		bin = defaultChromium
	}
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("GODWIT_ACCEPTANCE") == "1" {
			t.Fatalf("chromium not usable at %s (GODWIT_ACCEPTANCE=1): %v", bin, err)
		}
		t.Skipf("skipping the browser test: chromium not found at %s (install chromium or set GODWIT_CHROMIUM; GODWIT_ACCEPTANCE=1 makes this a failure)", bin)
	}
	return bin
}

// Run runs one headless chromium command, bounded in time, in its
// own process group, which is killed when it returns. It returns stdout
// and the browser's log (stderr).
func Run(t testing.TB, bin string, args ...string) (stdout []byte, log string) {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + profile,
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	err := cmd.Wait()
	// Helpers (zygote, renderer, ...) may outlive the browser process.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if ctx.Err() != nil {
		t.Fatalf("chromium %s: timed out\n%s", strings.Join(args, " "), tail(errb.String(), 20))
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(errb.String(), 20))
	}
	return out.Bytes(), errb.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
