package zones

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Limits bound what loading zones may cost: memory (bytes read, records
// held) and the CPU any one record can cost later on the query path. A
// record that can never be sent is refused at load: RDATA over 65,535
// octets, or an RRset that does not fit a 65,535-octet response.
type Limits struct {
	// FileBytes bounds one zone: its file plus everything it $INCLUDEs.
	FileBytes int64
	// LineBytes bounds one line, and one record continued over several
	// lines in parentheses, so a huge record fails before it is parsed.
	LineBytes int
	// RecordsPerName bounds the records at one owner name.
	RecordsPerName int
	// RecordsPerZone bounds the records of one zone.
	RecordsPerZone int
	// Records bounds the records of all the zones one LoadDir loads.
	Records int

	used int // records held by other zones: see Remaining
}

// Default limits. Measured on the test machine (zones.Set built, simple A
// records), a loaded record cost about 575 bytes of heap, TXT and other
// large records more; a reload holds the old zones and the new for a
// moment. So the default total keeps the zones under about 0.9 GB of heap,
// twice that during a reload, while a zone of a million records (make
// bench-large) loads. (Since records are stored in chunks (compact.go), 1M
// simple A records are 147 MiB of live heap, about 155 bytes each, but the
// parse still peaks near 500 MiB of RSS; the limits were left as they are.) (Issue 19: 2,000,003 records held 1.34 GB RSS,
// peaking at 3.19 GB in a reload.)
const (
	MaxFileBytes             = 256 << 20
	MaxRecordsPerName        = 10000
	DefaultMaxLineBytes      = 512 << 10 // 4 text bytes (\DDD) for each of 65,535 RDATA octets, and room
	DefaultMaxRecordsPerZone = 1_200_000
	DefaultMaxRecords        = 1_500_000
)

// DefaultLimits returns the limits LoadDir, LoadFile and ParseZone use.
func DefaultLimits() Limits {
	return Limits{
		FileBytes:      MaxFileBytes,
		LineBytes:      DefaultMaxLineBytes,
		RecordsPerName: MaxRecordsPerName,
		RecordsPerZone: DefaultMaxRecordsPerZone,
		Records:        DefaultMaxRecords,
	}
}

// Remaining returns l for loading one more zone next to loaded (the zones
// kept from other files): its LoadFile then also refuses a zone with more
// records than Records leaves. A runtime that reloads one file at a time
// calls l.Remaining(others).LoadFile.
func (l Limits) Remaining(loaded []*Zone) Limits {
	l.used = 0
	for _, z := range loaded {
		l.used += z.Len()
	}
	return l
}

// LoadDir loads the zones of dir as the package's LoadDir does, under l.
func (l Limits) LoadDir(dir string) ([]*Zone, error) {
	return l.loader().loadDir(dir)
}

// LoadFile loads one zone file as the package's LoadFile does, under l
// (Records counts the zones given to Remaining).
func (l Limits) LoadFile(path string) (*Zone, error) {
	z, errs := l.loader().loadFile(filepath.Dir(path), path)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return z, nil
}

func (l Limits) loader() loader {
	return loader{maxBytes: l.FileBytes, maxPerName: l.RecordsPerName, maxLine: l.LineBytes, maxRecords: l.RecordsPerZone, total: l.Records, used: l.used}
}

// ZoneFiles lists the zone files of dir, sorted, by the rules LoadDir
// uses: regular entries (or links to them) whose name ends in ".zone" and
// does not start with a dot (editors' lock and swap files). A named pipe
// or device called *.zone is listed, so that loading it reports it.
func ZoneFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !IsZoneFileName(name) {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	return files, nil
}

// IsZoneFileName reports whether a file of this name in the zones
// directory is a zone file (ZoneFiles' rule, for a watcher's events).
func IsZoneFileName(name string) bool {
	return strings.HasSuffix(name, ".zone") && !strings.HasPrefix(name, ".")
}

// DuplicateOrigin returns the error LoadDir reports for z when one of
// loaded already holds its origin, or nil. The zone loaded first wins.
func DuplicateOrigin(z *Zone, loaded []*Zone) error {
	for _, o := range loaded {
		if o != z && o.Origin == z.Origin && o.File != z.File {
			return &Error{File: z.File, Err: fmt.Errorf("zone %s is already loaded from %s", z.Origin, o.File)}
		}
	}
	return nil
}
