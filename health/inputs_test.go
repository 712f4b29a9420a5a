package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// soon runs f in a goroutine and fails the test, rather than hanging it,
// when f has not returned after a generous while.
func soon(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("still blocked after 10s")
		return nil
	}
}

// TestStateFileNotAFile: a named pipe, a directory or a device as the state
// file is refused at once, by Update and ReloadOverrides alike, and the
// targets are still applied (issue 19: a FIFO hung the reloader).
func TestStateFileNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "state")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	targets := []Target{{Datacenter: "ams", Addr: ip1}}
	for _, c := range []struct{ path, want string }{{fifo, "named pipe"}, {t.TempDir(), "directory"}, {"/dev/zero", "character device"}} {
		ch := New(nil, nil, nil)
		err := soon(t, func() error { return ch.Update(nil, targets, c.path) })
		if !errors.Is(err, ErrOverrides) || !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Update(%s): %v", c.path, err)
		}
		err = soon(t, ch.ReloadOverrides)
		if !errors.Is(err, inputfile.ErrNotRegular) {
			t.Errorf("ReloadOverrides(%s): %v", c.path, err)
		}
	}
}

func TestStateFileLimits(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "192.0.2.%d drain\n", i+1)
	}
	if err := os.WriteFile(state, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var targets []Target
	for i := range 20 {
		targets = append(targets, Target{Datacenter: "ams", Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})})
	}
	c := New(nil, nil, nil)
	c.SetLimits(Limits{Overrides: 10})
	err := c.Update(nil, targets, state)
	if !errors.Is(err, ErrOverrides) || !strings.Contains(err.Error(), state+":11: more than 10 overrides") {
		t.Errorf("count: %v", err)
	}
	c.SetLimits(Limits{StateFileBytes: 100})
	err = c.ReloadOverrides()
	if !errors.Is(err, inputfile.ErrTooLarge) || !strings.Contains(err.Error(), "the limit is 100") {
		t.Errorf("size: %v", err)
	}
	c.SetLimits(Limits{})
	if err := c.ReloadOverrides(); err != nil || len(c.Overrides()) != 20 {
		t.Errorf("defaults: %v, %d overrides", err, len(c.Overrides()))
	}
	// SetOverride stops at the limit too; changing or clearing an
	// existing entry still works.
	c.SetLimits(Limits{Overrides: 20})
	if err := c.SetOverride(KindDatacenter, "ams", "drain"); !errors.Is(err, ErrTooManyOverrides) {
		t.Errorf("SetOverride over the limit: %v", err)
	}
	if err := c.SetOverride(KindAddress, "192.0.2.1", "up"); err != nil {
		t.Errorf("SetOverride of an existing entry: %v", err)
	}
	if err := c.SetOverride(KindAddress, "192.0.2.2", "clear"); err != nil {
		t.Errorf("clear: %v", err)
	}
	if err := c.SetOverride(KindDatacenter, "ams", "drain"); err != nil {
		t.Errorf("SetOverride after a clear: %v", err)
	}
}

// TestStateFileUnknownKeys: overrides for addresses and datacenters that no
// target has are not in force; they stay in the file for when the target
// comes back.
func TestStateFileUnknownKeys(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(state, []byte("192.0.2.1 down\n198.51.100.9 drain\nams drain\nnowhere down\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	targets := []Target{{Datacenter: "ams", Addr: ip1}}
	c := New(nil, nil, nil)
	if err := c.Update(nil, targets, state); err != nil || len(c.Overrides()) != 4 {
		t.Fatalf("not restricted: %v %v", c.Overrides(), err)
	}
	c.RestrictOverrides()
	if err := c.Update(nil, targets, state); err != nil {
		t.Fatal(err)
	}
	got := c.Overrides()
	if len(got) != 2 || got[0].Key != "192.0.2.1" || got[1].Key != "ams" {
		t.Fatalf("in force: %v", got)
	}
	if v := c.View(); v.dcOv["nowhere"] != 0 || v.addrOv[netip.MustParseAddr("198.51.100.9")] != 0 {
		t.Error("an unknown key is in the view")
	}
	// A rewrite keeps them, marked.
	if err := c.SetOverride(KindAddress, "192.0.2.1", "clear"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(state)
	if !strings.Contains(string(data), "# Not in force") || !strings.Contains(string(data), "198.51.100.9 drain\n") ||
		!strings.Contains(string(data), "nowhere down\n") || strings.Contains(string(data), "192.0.2.1") {
		t.Errorf("rewritten file:\n%s", data)
	}
	// The target comes back: its override is in force again.
	targets = append(targets, Target{Datacenter: "nowhere", Addr: netip.MustParseAddr("198.51.100.9")})
	if err := c.Update(nil, targets, state); err != nil {
		t.Fatal(err)
	}
	if st := c.View().Lookup("", "nowhere", netip.MustParseAddr("198.51.100.9")); !st.Drained {
		t.Errorf("back in the config: %+v", st)
	}
}

// TestProbeThatCannotStartIsUnknown: a probe whose socket cannot be opened
// (EMFILE) tells nothing about the target: it neither counts towards fall
// nor towards rise, and the state is kept (issue 19 item 7).
func TestProbeThatCannotStartIsUnknown(t *testing.T) {
	c, clk := newTestChecker(t)
	if err := c.Update([]CheckConfig{tcpCheck("web")}, []Target{{Check: "web", Datacenter: "ams", Addr: ip1}}, ""); err != nil {
		t.Fatal(err)
	}
	p := c.probeFor(t, "web", ip1)
	emfile := &tcpProber{port: 9, dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	}}
	probe := func() error { return emfile.probe(context.Background(), ip1, nil) }
	const iv = 10 * time.Second
	step := func(err error) {
		clk.t = clk.t.Add(iv)
		c.record(p, err, time.Millisecond, iv)
	}

	// Before any result: unknown, up, and the first round is over.
	step(probe())
	if got := c.View().LookupAt("web", "ams", ip1, clk.t); !got.Up {
		t.Errorf("first probe cannot start: %+v, want up", got)
	}
	select {
	case <-p.first:
	default:
		t.Error("WaitFirstRound would wait for a probe that cannot start")
	}
	step(nil) // up
	for range 5 {
		step(probe()) // fall is 3
	}
	if got := c.View().LookupAt("web", "ams", ip1, clk.t); !got.Up {
		t.Errorf("after 5 probes that cannot start: %+v, want up", got)
	}
	info := c.Probes()[0]
	if !info.CannotStart || !strings.Contains(info.LastError, "too many open files") || info.Failures != 0 || info.State != StateUp {
		t.Errorf("Probes() = %+v", info)
	}
	if n := counterValue(t, c, "godwit_health_probes_total", TypeTCP, "unknown"); n != 6 {
		t.Errorf("unknown probes counted %v, want 6", n)
	}
	// A real failure streak still takes it down, and EMFILE does not
	// bring it back up.
	for range 3 {
		step(errors.New("refused"))
	}
	for range 3 {
		step(probe())
	}
	if got := c.View().LookupAt("web", "ams", ip1, clk.t); got.Up {
		t.Errorf("down, then probes that cannot start: %+v, want down", got)
	}
	step(nil)
	if info := c.Probes()[0]; info.CannotStart || info.Successes != 1 {
		t.Errorf("after a real result: %+v", info)
	}
}

// TestFileCheckNotAFile: a file check pointed at a named pipe fails at
// once instead of blocking its probe (and Stop) for good.
func TestFileCheckNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "status")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	err := soon(t, func() error { return runProbe(t, CheckConfig{Type: TypeFile, Path: fifo}, loopback) })
	if !errors.Is(err, inputfile.ErrNotRegular) {
		t.Errorf("got %v", err)
	}
}

func TestConfigLimits(t *testing.T) {
	if l := (Config{}).Limits(); l.Overrides != DefaultMaxOverrides || l.StateFileBytes != DefaultMaxStateFileBytes {
		t.Errorf("defaults: %+v", l)
	}
	if l := (Config{MaxOverrides: 5, MaxStateFileBytes: 100}).Limits(); l.Overrides != 5 || l.StateFileBytes != 100 {
		t.Errorf("set: %+v", l)
	}
	if err := (Config{MaxOverrides: -1}).Validate(); err == nil {
		t.Error("negative max_overrides accepted")
	}
}

// TestProbesAtTheFDLimit: with no file descriptor left, a real TCP probe
// and a real exec probe fail to start, and that is what cannotStart
// recognises (issue 19: fd exhaustion marked every exec-checked target
// down).
func TestProbesAtTheFDLimit(t *testing.T) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	restore := func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) }
	t.Cleanup(restore)
	lim := syscall.Rlimit{Cur: uint64(len(fds)) + 16, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	// Use up what is left.
	var filler []*os.File
	t.Cleanup(func() {
		for _, f := range filler {
			f.Close()
		}
	})
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		filler = append(filler, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tcpErr := tcpProber{port: 9}.probe(ctx, loopback, nil)
	execErr := execProber{argv: []string{"/bin/true"}}.probe(ctx, loopback, nil)
	restore()
	for name, err := range map[string]error{"tcp": tcpErr, "exec": execErr} {
		if !cannotStart(err) {
			t.Errorf("%s probe at the fd limit: %v, want EMFILE", name, err)
		}
	}
}

func TestStateFileErrorsQuoteShortExcerpts(t *testing.T) {
	long := "SECRET" + strings.Repeat("x", 500)
	for _, data := range []string{
		"ams " + long + "\n",
		"1.2.3." + strings.Repeat("9", 500) + " up\n",
		"ams up\n" + "ams\x1b[31m up\nams\x1b[31m up\n",
	} {
		_, err := parseOverrides("state", []byte(data), 0)
		if err == nil || !strings.HasPrefix(err.Error(), "state:") || strings.Contains(err.Error(), strings.Repeat("x", excerptLen)) ||
			strings.Contains(err.Error(), strings.Repeat("9", excerptLen)) || strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("%.60q: error %q", data, err)
		}
	}
}
