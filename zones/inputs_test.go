package zones

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// Hostile inputs of issue 19: files that are not files, links out of the
// zone directory, records that can never be sent, and limits on memory.

// soon runs load in a goroutine and fails the test, rather than hanging
// it, when load has not returned after a generous while.
func soon(t *testing.T, load func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- load() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("still loading after 20s: blocked on the input?")
		return nil
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostileFIFOZoneFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"good.test.zone": apex})
	fifo := filepath.Join(dir, "fifo.test.zone")
	mkfifo(t, fifo)

	err := soon(t, func() error { _, err := LoadFile(fifo); return err })
	if !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), fifo+": not a regular file (a named pipe") {
		t.Errorf("LoadFile: %v", err)
	}
	var zs []*Zone
	err = soon(t, func() (err error) { zs, err = LoadDir(dir); return err })
	if err == nil || !strings.Contains(err.Error(), "fifo.test.zone: not a regular file") {
		t.Errorf("LoadDir: %v", err)
	}
	if len(zs) != 1 || zs[0].Origin != "good.test." {
		t.Errorf("LoadDir zones %v, want good.test. only", zs)
	}
}

func TestHostileFIFOInclude(t *testing.T) {
	dir := writeFiles(t, map[string]string{"inc.test.zone": apex + "$INCLUDE pipe.inc\n"})
	mkfifo(t, filepath.Join(dir, "pipe.inc"))
	err := soon(t, func() error { _, err := LoadFile(filepath.Join(dir, "inc.test.zone")); return err })
	if err == nil || !strings.Contains(err.Error(), "inc.test.zone:5:") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("error %v", err)
	}
}

func TestHostileNotAFileZone(t *testing.T) {
	dir := writeFiles(t, map[string]string{"good.test.zone": apex})
	sub := filepath.Join(dir, "sub.test.zone")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{sub, "a directory"},
		{"/dev/zero", "a character device"},
	} {
		err := soon(t, func() error { _, err := LoadFile(c.path); return err })
		if !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.path, err)
		}
	}
	// A directory called *.zone is not listed at all.
	files, err := ZoneFiles(dir)
	if err != nil || len(files) != 1 || filepath.Base(files[0]) != "good.test.zone" {
		t.Errorf("ZoneFiles = %v, %v", files, err)
	}
}

func TestHostileSymlinkOutOfTheZoneDir(t *testing.T) {
	base := t.TempDir()
	const secret = "root:$6$SECRETHASHSECRETHASH:19000:0:99999:7:::"
	if err := os.WriteFile(filepath.Join(base, "shadow"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "zones")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.test.zone"), []byte(apex), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real.zone.txt"), []byte(apex), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"leak.zone": "../shadow", "abs.zone": filepath.Join(base, "shadow"), "inside.test.zone": "real.zone.txt"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	zs, err := LoadDir(dir)
	if err == nil {
		t.Fatal("links out of the zone directory loaded")
	}
	for _, f := range []string{"leak.zone", "abs.zone"} {
		if !strings.Contains(err.Error(), filepath.Join(dir, f)+": ") {
			t.Errorf("no error for %s: %v", f, err)
		}
	}
	if !errors.Is(err, inputfile.ErrOutside) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "root:") {
		t.Errorf("error %v", err)
	}
	// A link that stays inside is fine.
	if len(zs) != 2 {
		t.Errorf("loaded %v, want good.test. and inside.test.", zs)
	}
}

func TestHostileErrorQuotesAShortExcerpt(t *testing.T) {
	long := "SECRETSECRET" + strings.Repeat("x", 200)
	dir := writeFiles(t, map[string]string{"ex.test.zone": apex + long + " A 192.0.2.1 \x01\n"})
	_, err := LoadFile(filepath.Join(dir, "ex.test.zone"))
	if err == nil || !strings.Contains(err.Error(), "ex.test.zone:5:") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), strings.Repeat("x", excerptLen)) {
		t.Errorf("error quotes more than %d bytes: %v", excerptLen, err)
	}
	// And the excerpt is escaped.
	dir = writeFiles(t, map[string]string{"ctl.test.zone": apex + "www A \x1b[31mred\n"})
	_, err = LoadFile(filepath.Join(dir, "ctl.test.zone"))
	if err == nil || strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("error %q", err)
	}
}

func TestHostileRecordsThatCannotBeSent(t *testing.T) {
	str255 := `"` + strings.Repeat("a", 255) + `" `
	tests := []struct{ name, zone, want string }{
		{"RDATA over 65535", apex + "big TXT " + strings.Repeat(str255, 300) + "\n",
			":5: big.x.test. TXT: RDATA of 76800 octets, the most a record can hold is 65535"},
		{"RRset over a message", apex + func() string {
			var b strings.Builder
			for i := range 300 {
				fmt.Fprintf(&b, "set TXT \"%03d%s\"\n", i, strings.Repeat("b", 240))
			}
			return b.String()
		}(), ":5: the 300 TXT records at set.x.test. need"},
		{"wildcard RRset over a message", apex + func() string {
			var b strings.Builder
			for i := range 3000 {
				fmt.Fprintf(&b, "* AAAA 2001:db8::%x\n", i) // 3000 × 28 octets, compressed
			}
			return b.String()
		}(), ":5: the 3000 AAAA records at *.x.test. need"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"x.test.zone": tt.zone})
			_, err := LoadFile(filepath.Join(dir, "x.test.zone"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %.300v\nwant %q", err, tt.want)
			}
		})
	}
	// Just under the limits loads.
	var b strings.Builder
	b.WriteString(apex)
	for i := range 200 {
		fmt.Fprintf(&b, "set TXT \"%03d%s\"\n", i, strings.Repeat("b", 240))
	}
	b.WriteString("big TXT " + strings.Repeat(str255, 250) + "\n")
	dir := writeFiles(t, map[string]string{"x.test.zone": b.String()})
	if _, err := LoadFile(filepath.Join(dir, "x.test.zone")); err != nil {
		t.Errorf("sendable records refused: %.300v", err)
	}
}

func TestHostileHugeLineFailsFast(t *testing.T) {
	dir := writeFiles(t, map[string]string{})
	path := filepath.Join(dir, "line.test.zone")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(apex + "www TXT ")
	chunk := []byte(strings.Repeat(`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" `, 1<<15)) // 1 MiB
	for range 100 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.WriteString("\n")
	f.Close()
	err = soon(t, func() error { _, err := LoadFile(path); return err })
	want := fmt.Sprintf("line.test.zone:5: line too long: a line, or a record in parentheses, of more than %d bytes", DefaultMaxLineBytes)
	if !errors.Is(err, errLineTooLong) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v\nwant %q", err, want)
	}
	// Over many lines in parentheses, too.
	multi := apex + "www TXT (\n" + strings.Repeat(`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`+"\n", 20_000) + ")\n"
	dir = writeFiles(t, map[string]string{"multi.test.zone": multi})
	_, err = LoadFile(filepath.Join(dir, "multi.test.zone"))
	if !errors.Is(err, errLineTooLong) || !strings.Contains(err.Error(), "multi.test.zone:") {
		t.Errorf("multi-line record: %v", err)
	}
}

func TestRecordLimits(t *testing.T) {
	zone := func(n int) string {
		var b strings.Builder
		b.WriteString(apex) // 3 records
		for i := range n {
			fmt.Fprintf(&b, "h%d A 192.0.2.%d\n", i, i%250+1)
		}
		return b.String()
	}
	dir := writeFiles(t, map[string]string{"a.test.zone": zone(7), "b.test.zone": zone(7), "c.test.zone": zone(1)})
	lim := DefaultLimits()
	lim.RecordsPerZone, lim.Records = 9, 100
	zs, err := lim.LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "a.test.zone:11: too many records: a zone may hold 9") ||
		!strings.Contains(err.Error(), "b.test.zone:11:") || len(zs) != 1 {
		t.Errorf("per zone: %v, %d zones", err, len(zs))
	}
	lim.RecordsPerZone, lim.Records = 100, 14
	zs, err = lim.LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "b.test.zone:6: too many records: the zones may hold 14 records together, and 4 are left for this one") {
		t.Errorf("total: %v", err)
	}
	if len(zs) != 2 || zs[0].Origin != "a.test." || zs[1].Origin != "c.test." {
		t.Errorf("total: loaded %v", zs)
	}
	// A runtime loading one file next to others asks Remaining.
	if _, err := lim.Remaining(zs).LoadFile(filepath.Join(dir, "b.test.zone")); !errors.Is(err, errTooMany) {
		t.Errorf("Remaining: %v", err)
	}
	lim.Records = 24
	if _, err := lim.Remaining(zs).LoadFile(filepath.Join(dir, "b.test.zone")); err != nil {
		t.Errorf("Remaining with room: %v", err)
	}
}

func TestZoneFilesAndDuplicateOrigin(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b.test.zone": apex, "a.test.zone": apex, ".hidden.zone": apex, "notes.txt": "x",
		"dup.zone": "$ORIGIN a.test.\n" + apex, "sub/c.test.zone": apex,
	})
	files, err := ZoneFiles(dir)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if err != nil || strings.Join(names, " ") != "a.test.zone b.test.zone dup.zone" {
		t.Errorf("ZoneFiles = %v, %v", names, err)
	}
	if _, err := ZoneFiles(filepath.Join(dir, "none")); err == nil {
		t.Error("missing directory listed")
	}
	zs, err := LoadDir(dir)
	want := filepath.Join(dir, "dup.zone") + ": zone a.test. is already loaded from " + filepath.Join(dir, "a.test.zone")
	if err == nil || err.Error() != want || len(zs) != 2 {
		t.Errorf("LoadDir: %v", err)
	}
	dup, err := LoadFile(filepath.Join(dir, "dup.zone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := DuplicateOrigin(dup, zs); err == nil || err.Error() != want {
		t.Errorf("DuplicateOrigin = %v", err)
	}
	if err := DuplicateOrigin(zs[0], zs); err != nil {
		t.Errorf("a zone clashes with itself: %v", err)
	}
}

func TestConfigLimits(t *testing.T) {
	c := DefaultConfig()
	if l := c.Limits(); l != DefaultLimits() {
		t.Errorf("default limits %+v", l)
	}
	c.MaxRecords = 1000 // lower than the default per zone: the smaller one applies
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if l := c.Limits(); l.Records != 1000 || l.RecordsPerZone != DefaultMaxRecordsPerZone {
		t.Errorf("limits %+v", l)
	}
	c.MaxRecordsPerZone = -1
	if err := c.Validate(); err == nil {
		t.Error("negative limit accepted")
	}
	if l := (Config{Dir: "z"}).Limits(); l != DefaultLimits() {
		t.Errorf("zero fields: %+v", l)
	}
}

// TestRecordLimitInIncludeClosesIt: a parse stopped by the record limit
// inside an $INCLUDE closes the included file.
func TestRecordLimitInIncludeClosesIt(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "h%d A 192.0.2.1\n", i)
	}
	dir := writeFiles(t, map[string]string{"inc.test.zone": apex + "$INCLUDE hosts.inc\n", "hosts.inc": b.String()})
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(e)
	}
	lim := DefaultLimits()
	lim.RecordsPerZone = 10
	before := fds()
	for range 20 {
		if _, err := lim.LoadFile(filepath.Join(dir, "inc.test.zone")); !errors.Is(err, errTooMany) || !strings.Contains(err.Error(), "hosts.inc:8:") {
			t.Fatalf("error %v", err)
		}
	}
	if after := fds(); after > before+2 {
		t.Errorf("open files %d -> %d: the include is left open", before, after)
	}
}
