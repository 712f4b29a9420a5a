package zones

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

var (
	errIncludeOutside = errors.New("$INCLUDE path escapes the zone directory")
	errTooLarge       = errors.New("zone is too large")
	errLineTooLong    = errors.New("line too long")
	errTooMany        = errors.New("too many records")
)

// excerptLen bounds how much of a zone file's text an error quotes.
const excerptLen = 40

// Error is one problem found in a zone file. LoadDir and LoadFile return
// every problem they find, joined with errors.Join; each one is an *Error.
type Error struct {
	File string // as given to LoadDir/LoadFile, or the $INCLUDEd file
	Line int    // 1-based; 0 when the problem concerns the file as a whole
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Zone is one parsed and validated master file: owner names are lower-case
// and inside Origin, exactly one SOA sits at the apex next to NS records,
// CNAMEs stand alone, and below a delegation there is only glue.
type Zone struct {
	Origin string // lower-case, fully qualified apex
	File   string // the file it was loaded from
	Serial uint32 // from the SOA

	rrs      []mdns.RR // owner names lower-cased; no duplicates; grouped (see Records)
	pos      positions // where each record came from, parallel to rrs
	warnings []Warning
}

// Warning is something in a zone file that an operator should fix, though
// the zone loads: records of one RRset with different TTLs, for instance.
type Warning struct {
	File    string // the zone file, or the $INCLUDEd file
	Line    int    // 1-based
	Message string // without the file and line
}

// String is "file:line: warning: message".
func (w Warning) String() string {
	return w.File + ":" + strconv.Itoa(w.Line) + ": warning: " + w.Message
}

// Warnings returns what the zone's files hold that loads but should be
// fixed, in file order. The runtime shows them in godwit check and logs
// them when it loads the zone.
func (z *Zone) Warnings() []Warning { return z.warnings }

// Len returns the number of records in the zone.
func (z *Zone) Len() int { return len(z.rrs) }

// Records returns the zone's records grouped by owner name (names in the
// order they first appear in the file), then by type (in the order of
// first appearance at the name), in file order within an RRset; so each
// RRset is one run, and the compiled Set shares this slice. They are
// shared: treat them as read-only.
func (z *Zone) Records() []mdns.RR { return z.rrs }

// Position returns the file and line that record i of Records came from
// (the file differs from File for $INCLUDEd records).
func (z *Zone) Position(i int) (file string, line int) {
	p := z.pos.at(i)
	return p.file, p.line
}

type pos struct {
	file string
	line int
}

// loader holds the limits (see Limits); maxLine, maxRecords and total 0
// mean none. used is what other zones hold of total.
type loader struct {
	maxBytes   int64
	maxPerName int
	maxLine    int
	maxRecords int
	total      int
	used       int
}

var defaultLoader = DefaultLimits().loader()

// LoadDir loads every *.zone file in dir (names starting with a dot, such
// as editors' lock files, are skipped). The origin of each zone is the file
// name without ".zone" (example.test.zone holds example.test.) unless the
// file sets $ORIGIN before its first record. $INCLUDE may name files inside
// dir only, and a zone file that is a symbolic link must resolve inside dir
// too. Anything that is not a regular file (a named pipe, a device) is
// refused without blocking. The limits are DefaultLimits: see Limits.
//
// LoadDir reports every problem it finds, not just the first: the error is
// an errors.Join of *Error values, each saying file:line. The zones that
// loaded cleanly are returned even then; a zone with any error is not.
// After a syntax error the file is read on from the next record, so every
// bad record is reported: at most 50 errors a file, then "and N more".
// What loads with a warning (an RRset with several TTLs) is in the Zone's
// Warnings.
func LoadDir(dir string) ([]*Zone, error) {
	return defaultLoader.loadDir(dir)
}

// LoadFile loads one zone file, as LoadDir does for each file; $INCLUDE may
// name files in the file's own directory (or below it) only.
func LoadFile(path string) (*Zone, error) {
	z, errs := defaultLoader.loadFile(filepath.Dir(path), path)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return z, nil
}

// ParseZone parses a master file from r with the given default origin (the
// file sets its own with $ORIGIN before its first record). file is used in
// errors only. $INCLUDE is not allowed.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	data, err := io.ReadAll(io.LimitReader(r, defaultLoader.maxBytes+1))
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	if int64(len(data)) > defaultLoader.maxBytes {
		return nil, &Error{File: file, Err: fmt.Errorf("%w: more than %d bytes", errTooLarge, defaultLoader.maxBytes)}
	}
	z, errs := defaultLoader.parse(data, file, file, mdns.Fqdn(origin), nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return z, nil
}

func (l loader) loadDir(dir string) ([]*Zone, error) {
	files, err := ZoneFiles(dir)
	if err != nil {
		return nil, err
	}
	var (
		zs   []*Zone
		errs []error
	)
	for _, path := range files {
		z, zerrs := l.loadFile(dir, path)
		if len(zerrs) > 0 {
			errs = append(errs, zerrs...)
			continue
		}
		if err := DuplicateOrigin(z, zs); err != nil {
			errs = append(errs, err)
			continue
		}
		l.used += z.Len()
		zs = append(zs, z)
	}
	return zs, errors.Join(errs...)
}

// streamBytes: zone files at least this large are read a window at a time
// (see stream).
var streamBytes int64 = 8 << 20

// loadFile loads path; $INCLUDEs must stay inside dir.
func (l loader) loadFile(dir, path string) (*Zone, []error) {
	fail := func(err error) (*Zone, []error) { return nil, []error{&Error{File: path, Err: err}} }
	// Confined to dir like an $INCLUDE: a link to a file elsewhere is
	// refused before a byte of it is read.
	f, fi, err := inputfile.Open(path, inputfile.Options{Within: dir})
	if err != nil {
		return fail(trimPath(err, path))
	}
	defer f.Close()
	if fi.Size() > l.maxBytes {
		return fail(fmt.Errorf("%w: %d bytes, the limit is %d", errTooLarge, fi.Size(), l.maxBytes))
	}
	origin := strings.TrimSuffix(filepath.Base(path), ".zone") + "."
	if fi.Size() >= streamBytes && !noFastParse {
		if z, errs, ok := l.stream(f, path, origin, fi.Size()); ok {
			return z, errs
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail(err)
		}
	}
	// Sized by the file (io.ReadAll would grow it by doubling); bytes.Buffer
	// reads on while MinRead (512) bytes are free.
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, l.maxBytes+1)); err != nil {
		return fail(err)
	}
	data := buf.Bytes()
	if int64(len(data)) > l.maxBytes {
		return fail(fmt.Errorf("%w: more than %d bytes", errTooLarge, l.maxBytes))
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fail(err)
	}
	realDir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return fail(err)
	}
	absFile, err := filepath.Abs(path)
	if err != nil {
		return fail(err)
	}
	inc := &includeFS{absRoot: absDir, realRoot: realDir, dir: dir}
	return l.parse(data, path, absFile, origin, inc)
}

// stream loads a large zone file with fastStream, which holds a window of
// it at a time, not all of it. ok is false when fastStream gave up (the
// file is then to be read whole: the miekg parser finds and says what
// made it give up) or the file could not be read.
func (l loader) stream(f *os.File, file, origin string, size int64) (z *Zone, errs []error, ok bool) {
	// The file's lines size the validator's lists once (a read of the
	// file from the page cache: ~10 ms for 27 MiB).
	window := make([]byte, fastWindow)
	lines := 1
	for {
		n, err := f.Read(window)
		lines += bytes.Count(window[:n], []byte{'\n'})
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, false
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, false
	}
	r := io.LimitReader(f, l.maxBytes+1)
	n, err := io.ReadFull(r, window)
	eof := err == io.EOF || err == io.ErrUnexpectedEOF
	if err != nil && !eof {
		return nil, nil, false
	}
	origin, found := originDirective(window[:n], origin)
	if (!found && !eof) || checkOrigin(origin, file) != nil {
		return nil, nil, false
	}
	origin = canonName(origin)
	defer lowerGCForLoad(int(size))()
	v := l.validator(file, origin, lines)
	if !fastStream(v, window[:n], r, eof, l.maxBytes, file, origin, l.maxLine) {
		return nil, nil, false
	}
	z, errs = l.result(v, file, origin, 0, pos{})
	return z, errs, true
}

// maxErrors bounds the errors reported for one file; syntax errors past
// maxSyntaxErrors are not looked for (each costs a new parser).
const (
	maxErrors       = 50
	maxSyntaxErrors = 1000
)

// parse parses and validates one zone. file names it in errors; parserFile
// is what the miekg parser resolves relative $INCLUDEs against (absolute,
// so that includeFS sees absolute paths); inc == nil disallows $INCLUDE.
// After a syntax error it parses on from the next record, so that every
// error of the file is reported (see syntax.go).
func (l loader) parse(data []byte, file, parserFile, origin string, inc *includeFS) (*Zone, []error) {
	origin, _ = originDirective(data, origin)
	if err := checkOrigin(origin, file); err != nil {
		return nil, []error{err}
	}
	origin = canonName(origin)
	defer lowerGCForLoad(len(data))()

	st := &parseState{budget: l.maxBytes, maxLine: l.maxLine, limit: l.maxBytes}
	lines := bytes.Count(data, []byte{'\n'}) + 1
	v := l.validator(file, origin, lines)
	seg := &segment{data: data, name: file, parserName: parserFile, at: resume{line: 1, origin: origin}}
	if !noFastParse {
		if fastParse(v, data, file, origin, l.maxLine) {
			seg = nil // read: the miekg parser is not needed
		} else {
			v = l.validator(file, origin, lines) // read it all again, the miekg parser's way
		}
	}
	syntax, stopped := 0, pos{} // syntax errors; where reading stopped
	lastTTL := int64(-1)        // of the last record read
	for seg != nil {
		at := seg.at
		top := &lineReader{br: bytes.NewReader(seg.data), name: seg.name, parserName: seg.parserName, st: st}
		parserOrigin, shift := at.origin, 0
		if at.off > 0 || seg.include {
			if at.ttl == "" && lastTTL >= 0 {
				// A file without $TTL: records may take the previous
				// record's TTL.
				at.ttl = strconv.FormatInt(lastTTL, 10)
			}
			p := at.prefix(seg.data)
			shift = at.line - 1 - strings.Count(p, "\n")
			top.lines = shift
			top.br = bufio.NewReader(io.MultiReader(strings.NewReader(p), bytes.NewReader(seg.data[at.off:])))
			// The files' bytes count once, whatever the parsers re-read.
			if seg.include {
				st.budget += int64(len(p)) + int64(at.off)
			} else {
				st.budget = l.maxBytes - int64(at.off) - st.incBytes + int64(len(p))
			}
		}
		st.stack = []*lineReader{top}
		st.all = append(st.all, top)
		zp := mdns.NewZoneParser(top, parserOrigin, seg.parserName)
		if inc != nil {
			inc.st = st
			zp.SetIncludeAllowed(true)
			zp.SetIncludeFS(inc)
		}
		full := false
		for {
			for _, r := range st.stack {
				r.seek = seekStart
				r.recBytes = 0
			}
			rr, ok := zp.Next()
			if !ok || st.tooLarge != nil || st.tooLong != nil {
				break // (a record cut short by a limit is not one)
			}
			lastTTL = int64(rr.Header().Ttl)
			cur := st.stack[len(st.stack)-1]
			if !v.add(rr, pos{file: cur.name, line: cur.recordLine()}) {
				full = true // over the zone's record limit: reading on costs for nothing
				break
			}
		}
		// Stopped inside an $INCLUDE, the parser never closes it.
		for _, r := range st.all {
			if r.file != nil && !r.closed {
				r.Close()
			}
		}
		err := zp.Err()
		if full {
			break
		}
		if st.tooLarge != nil || st.tooLong != nil {
			v.errs = append(v.errs, st.syntaxError(errTooLarge, inc, l.maxBytes))
			syntax++
			break
		}
		if err == nil {
			if seg = seg.then; seg == nil {
				break
			}
			continue
		}
		if syntax == maxSyntaxErrors {
			stopped = pos{file: top.name, line: top.endLine()}
			break
		}
		syntax++
		e, next := st.parseError(err, inc, seg, shift, top)
		v.errs = append(v.errs, e)
		if seg = next; seg == nil {
			break
		}
	}
	return l.result(v, file, origin, syntax, stopped)
}

// checkOrigin says why origin cannot be a zone's, if it cannot.
func checkOrigin(origin, file string) *Error {
	if _, ok := mdns.IsDomainName(origin); !ok || origin == "" {
		return &Error{File: file, Err: fmt.Errorf("cannot use %q as the zone origin: name the file <origin>.zone or set $ORIGIN before the first record", origin)}
	}
	return nil
}

// validator returns a validator for a zone of file's lines.
func (l loader) validator(file, origin string, lines int) *validator {
	v := newValidator(file, origin, l.maxPerName)
	v.maxRecords, v.total, v.left = l.maxRecords, l.total, -1
	if n := lines; n > 4096 {
		// At most one record a line: sized once, not grown by doubling
		// (which left a large zone's peak heap with two copies of each).
		if l.maxRecords > 0 {
			n = min(n, l.maxRecords)
		}
		v.rrs, v.pos, v.next = make([]mdns.RR, 0, n), make([]recPos, 0, n), make([]int32, 0, n)
	}
	if l.total > 0 {
		v.left = max(l.total-l.used, 0)
	}
	return v
}

// result finishes v's checks and returns its zone, or its errors. syntax
// is how many syntax errors were found, stopped where reading stopped
// (after too many), if it did.
func (l loader) result(v *validator, file, origin string, syntax int, stopped pos) (*Zone, []error) {
	// After a syntax error the apex checks would only repeat it (a bad
	// SOA record is also a missing one).
	v.finish(syntax == 0 && !v.full)
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool {
			a, b := v.errs[i], v.errs[j]
			if a.File != b.File {
				return a.File == file // the zone's own file first, then includes
			}
			return a.Line < b.Line
		})
		n := min(len(v.errs), maxErrors)
		errs := make([]error, n, n+1)
		for i, e := range v.errs[:n] {
			errs[i] = e
		}
		switch more := len(v.errs) - n; {
		case stopped.line > 0 && stopped.file != file:
			errs = append(errs, &Error{File: file, Err: fmt.Errorf("and %d more errors; reading stopped at %s:%d", more, stopped.file, stopped.line)})
		case stopped.line > 0:
			errs = append(errs, &Error{File: file, Err: fmt.Errorf("and %d more errors; reading stopped at line %d", more, stopped.line)})
		case more > 0:
			errs = append(errs, &Error{File: file, Err: fmt.Errorf("and %d more errors", more)})
		}
		return nil, errs
	}
	v.lowerTTLs()
	rrs, ps := v.grouped()
	v.names, v.infos, v.sets, v.next, v.keys, v.cuts = nameTable{}, chunked[nameInfo]{}, chunked[rrsetTTL]{}, nil, nil, nil // garbage from here on: not held while positions pack
	z := &Zone{Origin: origin, File: file, rrs: rrs, pos: packPositions(ps, v.files), warnings: v.warnings}
	z.Serial = v.rrs[v.soa].(*mdns.SOA).Serial
	return z, nil
}

// originDirective returns the origin a file sets with $ORIGIN before its
// first record, or def; found is false when data holds no record.
func originDirective(data []byte, def string) (origin string, found bool) {
	origin = def
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' { // a record with the previous owner
			return origin, true
		}
		switch strings.ToUpper(f[0]) {
		case "$TTL":
		case "$ORIGIN":
			if len(f) > 1 {
				origin = absName(f[1], origin)
			}
		default:
			return origin, true
		}
	}
	return origin, false
}

func absName(name, origin string) string {
	switch {
	case name == "@":
		return origin
	case mdns.IsFqdn(name):
		return name
	case origin == ".":
		return name + "."
	}
	return name + "." + origin
}

// inZone is mdns.IsSubDomain(origin, name) for canonical names, without
// its label-by-label walk where neither holds an escape.
func inZone(origin, name string) bool {
	if strings.IndexByte(name, '\\') >= 0 || strings.IndexByte(origin, '\\') >= 0 {
		return mdns.IsSubDomain(origin, name)
	}
	switch n, o := len(name), len(origin); {
	case origin == ".":
		return true
	case n == o:
		return name == origin
	case n > o:
		return name[n-o-1] == '.' && name[n-o:] == origin
	}
	return false
}

// canonName lower-cases a fully qualified name and normalises its escapes
// (\065 and A are the same label).
func canonName(s string) string {
	if strings.IndexByte(s, '\\') >= 0 {
		buf := make([]byte, 256)
		if n, err := mdns.PackDomainName(mdns.Fqdn(s), buf, 0, nil, false); err == nil {
			if u, _, err := mdns.UnpackDomainName(buf[:n], 0); err == nil {
				s = u
			}
		}
	}
	// mdns.CanonicalName walks the name rune by rune even when it has
	// nothing to change, as almost every name of a zone has not.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c >= 'A' && c <= 'Z') {
			return mdns.CanonicalName(s)
		}
	}
	if !mdns.IsFqdn(s) {
		return mdns.CanonicalName(s)
	}
	return s
}

// parseState is shared by the readers of one zone: the file and its
// $INCLUDEs, innermost last.
type parseState struct {
	stack    []*lineReader // the files open now, innermost last
	all      []*lineReader // every file opened, in order
	budget   int64         // bytes left before the zone is too large
	tooLarge *lineReader   // the file being read when the budget ran out
	maxLine  int           // bytes in a line or a record; 0 = no limit
	tooLong  *lineReader   // the file with a line or record over maxLine
	rejected string        // the last $INCLUDE refused for escaping the directory
	incBytes int64         // bytes read from $INCLUDEd files
	limit    int64         // the zone's size limit
}

// syntaxError is the *Error for a limit passed while reading: the zone too
// large, or a line too long.
func (st *parseState) syntaxError(err error, inc *includeFS, limit int64) *Error {
	cur := st.stack[len(st.stack)-1]
	switch {
	case st.tooLarge != nil:
		cur = st.tooLarge
		err = fmt.Errorf("%w: more than %d bytes with its $INCLUDEs", errTooLarge, limit)
	case st.tooLong != nil:
		return &Error{File: st.tooLong.name, Line: st.tooLong.lines + 1,
			Err: fmt.Errorf("%w: a line, or a record in parentheses, of more than %d bytes", errLineTooLong, st.maxLine)}
	}
	return &Error{File: cur.name, Line: cur.endLine(), Err: err}
}

// segment is a stretch of a file that one parser reads: the zone's own
// file from its start, or the rest of a file after an error.
type segment struct {
	data       []byte
	name       string // for errors, as lineReader.name
	parserName string // the name the parser knows the file by
	at         resume
	include    bool     // data is an $INCLUDEd file
	then       *segment // what is read after this one: the rest of the file that $INCLUDEd it
}

// parseError turns the parser's error into an *Error for the file it is
// about, in an operator's words, and says where to parse on (nil:
// nowhere). top reads seg, and its parser's lines are shift lines before
// the file's. (The parser closes an $INCLUDEd file before it reports an
// error in it, so the file comes from the error text, which starts with
// the name the parser knows the file by.)
func (st *parseState) parseError(err error, inc *includeFS, seg *segment, shift int, top *lineReader) (*Error, *segment) {
	var pe *mdns.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: top.name, Line: top.endLine(), Err: err}, nil
	}
	text := pe.Error()
	cur := top
	for i := len(st.all) - 1; i >= 0; i-- {
		if r := st.all[i]; r != top && r.file != nil && strings.HasPrefix(text, r.parserName+": ") {
			cur = r
			break
		}
	}
	msg, tok, hasTok, line := splitParseError(text)
	if line == 0 {
		line = cur.endLine()
	} else if cur == top {
		line += shift
	}
	if errors.Is(err, errIncludeOutside) && inc != nil {
		msg, hasTok = fmt.Sprintf("$INCLUDE %s: path escapes the zone directory %s", st.rejected, inc.dir), false
	}
	if strings.HasPrefix(msg, "failed to open") { // an $INCLUDEd file
		if _, why, ok := strings.Cut(msg, "': "); ok {
			msg, hasTok = "$INCLUDE "+excerpt(tok)+": "+why, false
		}
	}
	if cur != top || strings.Contains(msg, "$INCLUDE") {
		// In an $INCLUDEd file, or its directive: parse on in the
		// included file after the bad record, then after the
		// directive's line.
		dirLine := top.endLine()
		after := seg.then
		origin := seg.at.origin
		if rec, ok := recordAt(seg.data, seg.at, dirLine+1); ok {
			after = &segment{data: seg.data, name: seg.name, parserName: seg.parserName, at: rec.here, include: seg.include, then: seg.then}
			origin = rec.here.origin
		}
		var rec record
		var next *segment
		if cur != top && inc != nil {
			if f := strings.Fields(lineAt(seg.data, seg.at, dirLine)); len(f) > 2 && strings.EqualFold(f[0], "$INCLUDE") {
				origin = canonName(absName(f[2], origin))
			}
			var incData []byte
			incData, rec = inc.recordAt(cur, line, origin, st.limit)
			if rec.end > 0 && rec.next.off < len(incData) {
				next = &segment{data: incData, name: cur.name, parserName: "/" + cur.parserName, at: rec.next, include: true, then: after}
			}
		}
		m, typ := syntaxMessage(msg, tok, hasTok, rec.rtype)
		switch owner := ownerText(rec.owner); {
		case owner != "" && typ != "":
			m = owner + " " + typ + ": " + m
		case owner != "" && msg != "bad owner name":
			m = owner + ": " + m
		case typ != "":
			m = typ + ": " + m
		}
		if next == nil {
			next = after
		}
		return &Error{File: cur.name, Line: line, Err: &wrapped{msg: m, err: err}}, next
	}
	rec, ok := recordAt(seg.data, seg.at, line)
	if !ok {
		m, _ := syntaxMessage(msg, tok, hasTok, "")
		return &Error{File: top.name, Line: line, Err: &wrapped{msg: m, err: err}}, seg.then
	}
	var m, typ string
	next, more := rec.next, rec.next.off < len(seg.data)
	switch {
	case rec.open > 0 && (rec.unclosed || rec.col0 > 0 && line >= rec.col0):
		m, typ, line = fmt.Sprintf("unclosed parenthesis opened at line %d", rec.open), rec.rtype, rec.open
		if rec.col0 > 0 {
			next, more = rec.resumeCol0, true
		} else {
			more = false
		}
	case rec.quote > 0 && line >= rec.quote:
		m, typ, line = fmt.Sprintf("unclosed quote: the string that starts on line %d has no closing \"", rec.quote), rec.rtype, rec.quote
	default:
		m, typ = syntaxMessage(msg, tok, hasTok, rec.rtype)
	}
	owner := ownerText(rec.owner)
	if typ != "" {
		m = owner + " " + typ + ": " + m
	} else if owner != "" && msg != "bad owner name" {
		m = owner + ": " + m
	}
	e := &Error{File: top.name, Line: line, Err: &wrapped{msg: m, err: err}}
	if !more {
		return e, seg.then
	}
	return e, &segment{data: seg.data, name: seg.name, parserName: seg.parserName, at: next, include: seg.include, then: seg.then}
}

// lineAt returns line of data, which starts at line at.line at at.off.
func lineAt(data []byte, at resume, line int) string {
	off := at.off
	for ln := at.line; ln < line && off < len(data); ln++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return ""
		}
		off += i + 1
	}
	l, _, _ := bytes.Cut(data[off:], []byte{'\n'})
	return string(l)
}

// excerpt quotes at most excerptLen bytes of s, escaped.
func excerpt(s string) string {
	if len(s) <= excerptLen {
		return strconv.QuoteToASCII(s)
	}
	return strconv.QuoteToASCII(s[:excerptLen]) + "..."
}

// trimPath drops the "path: " an inputfile error starts with, as *Error
// names the file already.
func trimPath(err error, path string) error {
	msg := strings.TrimPrefix(err.Error(), path+": ")
	return &wrapped{msg: msg, err: err}
}

// wrapped keeps the parser's error for errors.As while printing a
// shorter message.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// includeFS opens $INCLUDEd files for the miekg parser, refusing any path
// (after symbolic links) outside the zone directory. The parser hands it
// absolute paths with the leading slash removed.
type includeFS struct {
	absRoot  string // the zone directory, absolute
	realRoot string // the same with symbolic links resolved
	dir      string // the zone directory as given, for names in errors
	st       *parseState
}

func (f *includeFS) Open(name string) (fs.File, error) {
	full := filepath.Clean(filepath.FromSlash("/" + name))
	if !within(f.absRoot, full) {
		f.st.rejected = full
		return nil, errIncludeOutside
	}
	// The checks apply to the opened file: a named pipe is refused
	// without blocking, and a link out of the directory is refused even
	// if it is swapped in after the check above.
	file, _, err := inputfile.Open(full, inputfile.Options{Within: f.realRoot})
	if errors.Is(err, inputfile.ErrOutside) {
		f.st.rejected = full
		return nil, errIncludeOutside
	}
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(f.absRoot, full)
	r := &lineReader{br: bufio.NewReaderSize(file, 64<<10), file: file, name: filepath.Join(f.dir, rel), parserName: name, st: f.st, seek: seekStart}
	f.st.stack = append(f.st.stack, r)
	f.st.all = append(f.st.all, r)
	return r, nil
}

// recordAt finds the record at line of the $INCLUDEd file r, to name it
// in an error: the file is read again, under the same rules as before.
func (f *includeFS) recordAt(r *lineReader, line int, origin string, limit int64) ([]byte, record) {
	file, _, err := inputfile.Open(filepath.Clean(filepath.FromSlash("/"+r.parserName)), inputfile.Options{Within: f.realRoot})
	if err != nil {
		return nil, record{}
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit))
	if err != nil {
		return nil, record{}
	}
	rec, _ := recordAt(data, resume{line: 1, origin: origin}, line)
	return data, rec
}

func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// lineReader feeds one file to the miekg parser byte by byte and keeps
// count of lines, because the parser reports lines for syntax errors only.
//
// The parser reads a record up to and including the newline that ends it,
// and no further, before returning it. So when Next returns a record, the
// reader that produced it (the innermost open one) has just read its last
// byte, and the line of the first byte that is not blank, not in a comment
// and not in a directive line since Next was called is the line where the
// record starts. Records made by $GENERATE get the line of the directive.
// The limitation: a record whose owner starts with "$" gets the line where
// it ends, not where it starts.
type lineReader struct {
	br         io.ByteReader
	file       *os.File // nil for the top-level file (read from memory)
	name       string   // for errors
	parserName string   // the name the miekg parser knows it by
	st         *parseState

	lines    int  // newlines read
	lastNL   bool // the last byte read was a newline
	seek     uint8
	start    int  // line of the record's first byte, when seek == seekFound
	lineLen  int  // bytes read in the current line
	recBytes int  // bytes read since the record's first byte
	closed   bool // Close was called
}

const (
	seekFound     = iota // start found (or not looking)
	seekStart            // looking for the first byte of the next record
	seekComment          // in a comment before it
	seekDirective        // in a $ directive line before it
)

func (r *lineReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if r.st.budget <= 0 {
		r.st.tooLarge = r
		return 0, errTooLarge
	}
	r.st.budget--
	if r.file != nil {
		r.st.incBytes++
	}
	if max := r.st.maxLine; max > 0 {
		r.lineLen++
		if r.seek == seekFound {
			r.recBytes++
		}
		if r.lineLen > max || r.recBytes > max {
			r.st.tooLong = r
			return 0, errLineTooLong
		}
	}
	switch r.seek {
	case seekStart:
		switch c {
		case ' ', '\t', '\r', '\n', '(', ')':
		case ';':
			r.seek = seekComment
		case '$':
			r.seek = seekDirective
		default:
			r.seek = seekFound
			r.start = r.lines + 1
		}
	case seekComment, seekDirective:
		if c == '\n' {
			r.seek = seekStart
		}
	}
	if c == '\n' {
		r.lines++
		r.lineLen = 0
	}
	r.lastNL = c == '\n'
	return c, nil
}

// recordLine is the line where the record just returned by the parser
// starts.
func (r *lineReader) recordLine() int {
	if r.seek == seekFound && r.start > 0 {
		return r.start
	}
	return r.endLine()
}

// endLine is the line of the last byte read.
func (r *lineReader) endLine() int {
	if r.lastNL {
		return r.lines
	}
	return r.lines + 1
}

func (r *lineReader) Read(p []byte) (int, error) {
	for i := range p {
		c, err := r.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

func (r *lineReader) Stat() (fs.FileInfo, error) {
	if r.file == nil {
		return nil, errors.New("no file")
	}
	return r.file.Stat()
}

// Close is called by the parser at the end of an $INCLUDEd file.
func (r *lineReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if s := r.st.stack; len(s) > 0 && s[len(s)-1] == r {
		r.st.stack = s[:len(s)-1]
	}
	if r.file == nil {
		return nil
	}
	return r.file.Close()
}

// recPos is a pos of the validator's: 8 bytes a record, and nothing the
// collector scans.
type recPos struct {
	line uint32
	file uint32 // in validator.files
}

// posOf returns the position of record i.
func (v *validator) posOf(i int) pos {
	return pos{file: v.files[v.pos[i].file], line: int(v.pos[i].line)}
}

// fileIndex returns file's index in v.files, adding it if new.
func (v *validator) fileIndex(file string) uint32 {
	f := len(v.files) - 1 // (a few files, the last one almost always)
	if f < 0 || v.files[f] != file {
		f = slices.Index(v.files, file)
	}
	if f < 0 {
		f = len(v.files)
		v.files = append(v.files, file)
	}
	return uint32(f)
}

// validator collects a zone's records and checks them.
type validator struct {
	file       string
	origin     string
	maxPerName int
	rrs        []mdns.RR
	pos        []recPos                      // of rrs
	names      nameTable                     // owner -> its index in infos
	newName    int32                         // the name add is adding, -1: none
	newOwner   string                        // and its owner
	empty      map[int32]string              // owners of names without records (with maxPerName 0)
	infos      chunked[nameInfo]             // in order of first appearance
	next       []int32                       // for each of rrs, the next record at its name; -1: none
	sets       chunked[rrsetTTL]             // chained per name, see nameInfo.sets
	keys       map[int32]map[string]struct{} // type+rdata at a name (by infos index), once there are many
	files      []string                      // the zone's file and its includes, for rrsetTTL.file
	cuts       map[string]int                // delegation point -> index of its first NS
	soa        int                           // index of the SOA, -1 while none
	errs       []*Error
	warnings   []Warning
	ttlDiffs   []ttlDiff // see rrsetTTL.diff
	store      store     // where rrs live
	maxRecords int       // records in the zone; 0 = no limit
	total      int       // records in all zones together, for the error
	left       int       // what total leaves for this zone; -1 = no limit
	full       bool      // a limit was passed: the zone is refused
	lastOwner  string    // the owner of the last record added (the store's copy)
	lastK      int32     // and its index in infos
}

// nameInfo is what the validator knows of one owner name. One is kept for
// every name while the zone loads, in chunks without pointers: a large
// zone's names cost the collector nothing. (The name itself is its first
// record's, shared by all of them.)
type nameInfo struct {
	first, last int32  // records at this name, chained by validator.next; -1: none
	n           int32  // how many
	sets        int32  // first of the name's RRsets of more than one record in validator.sets, chained by rrsetTTL.next; -1: none
	bytes       uint32 // wire length of the records, uncompressed (at most MaxUint32)
	count       int32
	cname       int32 // first CNAME, -1 if none
	other       int32 // first record that may not sit beside a CNAME, -1 if none
	clashed     bool
	keyed       bool // validator.keys holds the name's records
}

// rrsetTTL is what the validator knows of the TTLs of one RRset of more
// than one record (a set of one has one TTL); what only a set with more
// than one TTL needs is in validator.ttlDiffs.
type rrsetTTL struct {
	line  int32  // the first record's line
	file  int32  // and file, in validator.files
	ttl   uint32 // and its TTL
	min   uint32 // the lowest TTL of the set
	diff  int32  // 1 + the index of the set's ttlDiff; 0: one TTL so far
	next  int32  // the name's next RRset in validator.sets; -1: none
	rtype uint16
}

// ttlDiff is the first record of an RRset with another TTL than its first.
type ttlDiff struct {
	other pos // the record
	ttl2  uint32
	name  string
}

const dedupMapAt = 32 // records at a name before duplicates are found with a map

func newValidator(file, origin string, maxPerName int) *validator {
	v := &validator{file: file, origin: origin, maxPerName: maxPerName, newName: -1, cuts: map[string]int{}, soa: -1}
	v.store.known = func(name string) string {
		if k, ok := v.lookup(name); ok {
			return v.owner(k)
		}
		return ""
	}
	return v
}

func (v *validator) errorf(p pos, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: p.file, Line: p.line, Err: fmt.Errorf(format, args...)})
}

// add checks rr and keeps it if it is good. It returns false once the
// zone has more records than it may: the caller stops reading.
func (v *validator) add(rr mdns.RR, p pos) bool {
	h := rr.Header()
	if h.Class != mdns.ClassINET {
		v.errorf(p, "class %s is not supported, only IN", mdns.Class(h.Class))
		return true
	}
	h.Name = canonName(h.Name)
	if noData(rr) {
		// The parser takes a record with no data on the file's last line
		// for a dynamic update's "delete" record.
		v.errorf(p, "%s %s: the record has no data", h.Name, mdns.Type(h.Rrtype))
		return true
	}
	if !inZone(v.origin, h.Name) {
		v.errorf(p, "%s %s is outside the zone %s", h.Name, mdns.Type(h.Rrtype), v.origin)
		return true
	}
	wire := mdns.Len(rr) // uncompressed
	if rdlen := wire - nameWireLen(h.Name) - 10; rdlen > maxRDLength {
		// RFC 1035 3.2.1: RDLENGTH is 16 bits. Such a record can never be
		// sent; packing it on every query would only burn CPU.
		v.errorf(p, "%s %s: RDATA of %d octets, the most a record can hold is %d", h.Name, mdns.Type(h.Rrtype), rdlen, maxRDLength)
		return true
	}
	if v.left >= 0 && len(v.rrs) >= v.left && (v.maxRecords <= 0 || v.left < v.maxRecords) {
		v.full = true
		v.errorf(p, "%w: the zones may hold %d records together, and %d are left for this one", errTooMany, v.total, v.left)
		return false
	}
	if v.maxRecords > 0 && len(v.rrs) >= v.maxRecords {
		v.full = true
		v.errorf(p, "%w: a zone may hold %d", errTooMany, v.maxRecords)
		return false
	}
	var (
		k  int32
		ok bool
	)
	if h.Name == v.lastOwner && v.lastOwner != "" {
		k, ok = v.lastK, true // a name's records mostly come together
	} else {
		k, ok = v.lookup(h.Name)
	}
	name := h.Name
	if !ok {
		name = v.store.string(h.Name)
		hash := v.names.hash(name)
		k = v.infos.add(nameInfo{first: -1, last: -1, sets: -1, cname: -1, other: -1})
		v.names.insert(k, hash)
		v.newName, v.newOwner = k, name
		defer func() {
			if v.infos.at(k).first < 0 {
				if v.empty == nil {
					v.empty = map[int32]string{}
				}
				v.empty[k] = name
			}
			v.newName, v.newOwner = -1, ""
		}()
	}
	ni := v.infos.at(k)
	if ok {
		name = v.owner(k) // the store's copy (h.Name may be fastParse's buffer)
	}
	h.Name = name // one string per owner name, however many records
	v.lastOwner, v.lastK = name, k
	v.checkTTL(ni, rr, p)
	if v.duplicate(k, ni, rr) {
		return true // RFC 2181 5: an RRset has no duplicates
	}
	ni.count++
	if int(ni.count) > v.maxPerName {
		if int(ni.count) == v.maxPerName+1 {
			v.errorf(p, "more than %d records at %s", v.maxPerName, h.Name)
		}
		return true
	}
	ni.bytes = uint32(min(int64(ni.bytes)+int64(wire), math.MaxUint32))
	rr = v.store.record(rr, name) // (h stays the parser's: the same values)
	i := len(v.rrs)
	v.rrs = append(v.rrs, rr)
	v.pos = append(v.pos, recPos{line: uint32(p.line), file: v.fileIndex(p.file)})
	v.next = append(v.next, -1)
	if ni.last >= 0 {
		v.next[ni.last] = int32(i)
	} else {
		ni.first = int32(i)
	}
	ni.last = int32(i)
	ni.n++
	if ni.keyed {
		v.keys[k][rdataKey(rr)] = struct{}{}
	}

	switch h.Rrtype {
	case mdns.TypeSOA:
		switch {
		case h.Name != v.origin:
			v.errorf(p, "SOA record at %s, not at the zone apex %s", h.Name, v.origin)
		case v.soa >= 0:
			v.errorf(p, "second SOA record at %s (the first is at line %d)", h.Name, int(v.pos[v.soa].line))
		default:
			v.soa = i
		}
	case mdns.TypeNS:
		if h.Name != v.origin {
			if _, ok := v.cuts[h.Name]; !ok {
				v.cuts[h.Name] = i
			}
			if strings.HasPrefix(h.Name, "*.") {
				v.errorf(p, "NS record at the wildcard name %s is not supported", h.Name)
			}
		}
	}
	switch h.Rrtype {
	case mdns.TypeCNAME:
		if ni.cname >= 0 {
			v.errorf(p, "second CNAME record at %s (the first is at line %d)", h.Name, int(v.pos[ni.cname].line))
			return true
		}
		ni.cname = int32(i)
	case mdns.TypeRRSIG, mdns.TypeNSEC:
		return true
	default:
		if ni.other < 0 {
			ni.other = int32(i)
		}
	}
	if ni.cname >= 0 && ni.other >= 0 && !ni.clashed {
		ni.clashed = true
		first, later := ni.cname, ni.other
		if later < first {
			first, later = later, first
		}
		v.errorf(v.posOf(int(later)), "CNAME and other data at %s (%s at line %d, %s at line %d)", h.Name,
			mdns.Type(v.rrs[first].Header().Rrtype), int(v.pos[first].line),
			mdns.Type(v.rrs[later].Header().Rrtype), int(v.pos[later].line))
	}
	return true
}

// checkTTL keeps count of the TTLs of rr's RRset. RFC 2181 5.2: the
// records of an RRset have one TTL. Like NSD and Knot, the zone loads with
// a warning (one for each RRset, at its first record with another TTL);
// finish gives every record of the set the lowest TTL, so that no cache
// keeps any of them longer than one of them asked for. (BIND keeps the
// first TTL instead.) RRSIGs of one name have the TTLs of the sets they
// cover, so they are left alone.
func (v *validator) checkTTL(ni *nameInfo, rr mdns.RR, p pos) {
	h := rr.Header()
	if h.Rrtype == mdns.TypeRRSIG {
		return
	}
	last := int32(-1)
	for i := ni.sets; i >= 0; i = v.sets.at(i).next {
		s := v.sets.at(i)
		last = i
		if s.rtype != h.Rrtype {
			continue
		}
		if h.Ttl != s.ttl && s.diff == 0 {
			v.ttlDiffs = append(v.ttlDiffs, ttlDiff{other: p, ttl2: h.Ttl, name: h.Name})
			s.diff = int32(len(v.ttlDiffs))
		}
		s.min = min(s.min, h.Ttl)
		return
	}
	// No entry yet: the set's first record, if it has one, is the only
	// one so far. An entry is made at a set's second record, so that the
	// sets of one record (almost all of a large zone's) cost nothing.
	first := int32(-1)
	for j := ni.first; j >= 0; j = v.next[j] {
		if v.rrs[j].Header().Rrtype == h.Rrtype {
			first = j
			break
		}
	}
	if first < 0 {
		return
	}
	ttl := v.rrs[first].Header().Ttl
	i := v.sets.add(rrsetTTL{rtype: h.Rrtype, line: int32(v.pos[first].line), file: int32(v.pos[first].file), ttl: ttl, min: min(ttl, h.Ttl), next: -1})
	if h.Ttl != ttl {
		v.ttlDiffs = append(v.ttlDiffs, ttlDiff{other: p, ttl2: h.Ttl, name: h.Name})
		v.sets.at(i).diff = int32(len(v.ttlDiffs))
	}
	if last >= 0 {
		v.sets.at(last).next = i
	} else {
		ni.sets = i
	}
}

// lowerTTLs gives the records of every RRset with more than one TTL the
// lowest, and warns of it at the set's first record with another TTL than
// the first one.
func (v *validator) lowerTTLs() {
	for k := range v.infos.n {
		ni := v.infos.at(k)
		for si := ni.sets; si >= 0; si = v.sets.at(si).next {
			s := v.sets.at(si)
			if s.diff == 0 {
				continue
			}
			d := &v.ttlDiffs[s.diff-1]
			for i := ni.first; i >= 0; i = v.next[i] {
				if h := v.rrs[i].Header(); h.Rrtype == s.rtype {
					h.Ttl = s.min
				}
			}
			where := "line " + strconv.Itoa(int(s.line))
			if file := v.files[s.file]; file != d.other.file {
				where = file + ":" + strconv.Itoa(int(s.line))
			}
			v.warnings = append(v.warnings, Warning{File: d.other.file, Line: d.other.line, Message: fmt.Sprintf(
				"%s %s: TTL %d differs from TTL %d at %s; the records of an RRset have one TTL (RFC 2181 5.2), so all are served with TTL %d, the lowest",
				d.name, mdns.Type(s.rtype), d.ttl2, s.ttl, where, s.min)})
		}
	}
	sort.Slice(v.warnings, func(i, j int) bool {
		a, b := v.warnings[i], v.warnings[j]
		if a.File != b.File {
			return a.File == v.file
		}
		return a.Line < b.Line
	})
}

// noData reports whether rr, of a type a zone commonly holds, has no
// RDATA.
func noData(rr mdns.RR) bool {
	switch r := rr.(type) {
	case *mdns.A:
		return r.A == nil
	case *mdns.AAAA:
		return r.AAAA == nil
	case *mdns.CNAME:
		return r.Target == ""
	case *mdns.DNAME:
		return r.Target == ""
	case *mdns.NS:
		return r.Ns == ""
	case *mdns.PTR:
		return r.Ptr == ""
	case *mdns.MX:
		return r.Mx == ""
	case *mdns.SRV:
		return r.Target == ""
	case *mdns.TXT:
		return r.Txt == nil
	case *mdns.SOA:
		return r.Ns == ""
	case *mdns.CAA:
		return r.Tag == ""
	}
	return false
}

// duplicate reports whether rr is already at its name.
func (v *validator) duplicate(k int32, ni *nameInfo, rr mdns.RR) bool {
	if !ni.keyed && ni.n < dedupMapAt {
		for j := ni.first; j >= 0; j = v.next[j] {
			if mdns.IsDuplicate(v.rrs[j], rr) {
				return true
			}
		}
		return false
	}
	if !ni.keyed {
		keys := make(map[string]struct{}, 2*ni.n)
		for j := ni.first; j >= 0; j = v.next[j] {
			keys[rdataKey(v.rrs[j])] = struct{}{}
		}
		if v.keys == nil {
			v.keys = map[int32]map[string]struct{}{}
		}
		v.keys[k], ni.keyed = keys, true
	}
	_, ok := v.keys[k][rdataKey(rr)]
	return ok
}

// rdataKey is the type and RDATA of rr in presentation format.
func rdataKey(rr mdns.RR) string {
	h := rr.Header()
	return strconv.Itoa(int(h.Rrtype)) + " " + strings.TrimPrefix(rr.String(), h.String())
}

// finish runs the checks that need every record: delegations and, when the
// zone was read to the end (complete), the apex.
func (v *validator) finish(complete bool) {
	v.checkRRsetSizes()
	if complete {
		switch {
		case v.soa < 0:
			first := pos{file: v.file, line: 1} // where the data starts
			if len(v.pos) > 0 {
				first = v.posOf(0)
			}
			v.errorf(first, "no SOA record at the zone apex %s", v.origin)
		case !v.hasType(v.origin, mdns.TypeNS):
			v.errorf(v.posOf(v.soa), "no NS records at the zone apex %s", v.origin)
		}
	}
	if len(v.cuts) == 0 {
		return
	}
	// Where each owner stands is found once for a run of its records.
	var (
		prev  string
		atCut bool   // prev is a delegation point
		below string // the delegation prev lies below, "" if none
		cut   int    // and the index of its first NS
	)
	for i, rr := range v.rrs {
		h := rr.Header()
		if h.Name == v.origin {
			continue
		}
		if h.Name != prev || i == 0 {
			prev, below = h.Name, ""
			_, atCut = v.cuts[h.Name]
			// The proper ancestors of the owner, below the apex.
			for off, end := mdns.NextLabel(h.Name, 0); !end; off, end = mdns.NextLabel(h.Name, off) {
				anc := h.Name[off:]
				if len(anc) <= len(v.origin) {
					break
				}
				if c, ok := v.cuts[anc]; ok {
					below, cut = anc, c
					break
				}
			}
		}
		t := h.Rrtype
		if atCut {
			switch t {
			case mdns.TypeNS, mdns.TypeDS, mdns.TypeA, mdns.TypeAAAA, mdns.TypeRRSIG, mdns.TypeNSEC:
			default:
				v.errorf(v.posOf(i), "%s record at the delegation point %s is occluded (only NS, DS and glue belong there)", mdns.Type(t), h.Name)
			}
		}
		if below != "" && t != mdns.TypeA && t != mdns.TypeAAAA {
			v.errorf(v.posOf(i), "%s record at %s is occluded by the delegation at %s (line %d): only glue (A, AAAA) may sit below it",
				mdns.Type(t), h.Name, below, int(v.pos[cut].line))
		}
	}
}

// hasType reports whether name has a record of type t.
func (v *validator) hasType(name string, t uint16) bool {
	k, ok := v.lookup(name)
	if !ok {
		return false
	}
	for j := v.infos.at(k).first; j >= 0; j = v.next[j] {
		if v.rrs[j].Header().Rrtype == t {
			return true
		}
	}
	return false
}

// maxRDLength is the most RDATA a record can carry (RFC 1035 3.2.1).
const maxRDLength = 65535

// maxMessage is the largest DNS message (TCP's 16-bit length, RFC 1035
// 4.2.2); a UDP reply that does not fit is truncated and retried there.
const maxMessage = 65535

// nameWireLen is the uncompressed wire length of a fully qualified name.
func nameWireLen(name string) int {
	if strings.IndexByte(name, '\\') < 0 {
		if name == "." {
			return 1
		}
		return len(name) + 1
	}
	buf := make([]byte, 256)
	n, err := mdns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return len(name) + 1
	}
	return n
}

// checkRRsetSizes refuses every RRset that cannot be sent: a response of
// the header, the question and the RRset alone, compressed, is over
// maxMessage. (The question of a wildcard's answer may be as long as a
// name can be.) Only names whose records together could be too large are
// packed, so a normal zone costs nothing here.
func (v *validator) checkRRsetSizes() {
	for k := range v.infos.n {
		ni := v.infos.at(k)
		if ni.first < 0 {
			continue
		}
		name := v.rrs[ni.first].Header().Name
		qlen := nameWireLen(name)
		if strings.HasPrefix(name, "*.") {
			qlen = 255
		}
		if 12+int64(qlen)+4+int64(ni.bytes) <= maxMessage {
			continue
		}
		sets := map[uint16][]int{}
		var types []uint16
		for i := ni.first; i >= 0; i = v.next[i] {
			t := v.rrs[i].Header().Rrtype
			if _, ok := sets[t]; !ok {
				types = append(types, t)
			}
			sets[t] = append(sets[t], int(i))
		}
		for _, t := range types {
			m := new(mdns.Msg)
			m.SetQuestion(name, t)
			m.Compress = true
			for _, i := range sets[t] {
				m.Answer = append(m.Answer, v.rrs[i])
			}
			if n := m.Len() + qlen - nameWireLen(name); n > maxMessage {
				first := sets[t][0]
				v.errorf(v.posOf(first), "the %d %s records at %s need %d octets in a response; a DNS message holds at most %d",
					len(sets[t]), mdns.Type(t), name, n, maxMessage)
			}
		}
	}
}

// chunked is a growing list of values in fixed-size chunks: it is never
// copied to grow, so a large zone's bookkeeping costs its size once, not the
// sum of every size it grew through, and pointers to its values stay valid.
type chunked[T any] struct {
	c [][]T
	n int32
}

const chunkShift = 12 // 4096 values a chunk

func (c *chunked[T]) add(x T) int32 {
	if len(c.c) == 0 || len(c.c[len(c.c)-1]) == 1<<chunkShift {
		var next []T // the first chunk grows as needed, for small zones
		if len(c.c) > 0 {
			next = make([]T, 0, 1<<chunkShift)
		}
		c.c = append(c.c, next)
	}
	last := &c.c[len(c.c)-1]
	*last = append(*last, x)
	c.n++
	return c.n - 1
}

func (c *chunked[T]) at(i int32) *T {
	return &c.c[i>>chunkShift][i&(1<<chunkShift-1)]
}

// nameTable finds a name's index in validator.infos: an open-addressing
// table of indices and hashes, without pointers (a map[string]int32 of a
// large zone's names is as large again and scanned by the collector). A
// slot holds the name's hash beside its index, so that a probe past other
// names, and growing the table, touch the table alone.
type nameTable struct {
	slots []uint64 // hash<<32 | 1 + index in infos; 0: empty
	n     int
	seed  maphash.Seed
}

func (t *nameTable) hash(name string) uint32 {
	if len(t.slots) == 0 {
		t.seed = maphash.MakeSeed()
		t.slots = make([]uint64, 64)
	}
	return uint32(maphash.String(t.seed, name))
}

// insert adds infos[k], whose name hashes to h.
func (t *nameTable) insert(k int32, h uint32) {
	if 2*(t.n+1) > len(t.slots) { // at most half full
		old := t.slots
		t.slots = make([]uint64, 2*len(old))
		for _, s := range old {
			if s != 0 {
				t.place(s)
			}
		}
	}
	t.place(uint64(h)<<32 | uint64(k+1))
	t.n++
}

func (t *nameTable) place(s uint64) {
	mask := uint32(len(t.slots) - 1)
	i := uint32(s>>32) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// owner returns the owner name of infos[k].
func (v *validator) owner(k int32) string {
	if ni := v.infos.at(k); ni.first >= 0 {
		return v.rrs[ni.first].Header().Name
	}
	if k == v.newName {
		return v.newOwner
	}
	return v.empty[k]
}

// lookup returns name's index in infos.
func (v *validator) lookup(name string) (int32, bool) {
	t := &v.names
	if t.n == 0 {
		return 0, false
	}
	h := uint32(maphash.String(t.seed, name))
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; t.slots[i] != 0; i = (i + 1) & mask {
		if s := t.slots[i]; uint32(s>>32) == h {
			if k := int32(uint32(s) - 1); v.owner(k) == name {
				return k, true
			}
		}
	}
	return 0, false
}
