package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// A digCase is one query of the dig acceptance suite: the dig arguments and
// what the reply must look like. Case files (testdata/acceptance/*.case)
// hold cases separated by lines of "---":
//
//	# what the case checks
//	dig: www.example.test A +dnssec
//	status: NOERROR
//	flags: qr aa
//	answer:
//	www.example.test. 3600 IN A 192.0.2.1
//	authority: none
//	contains: ; EDNS: version: 0, flags: do; udp: 1232
//
// A section (answer, authority, additional) lists its records one per line
// and must match exactly, in any order, with blanks collapsed; "none" means
// empty. "answer-count: N" checks only the count. "contains:" and "absent:"
// check a line of dig's output (the OPT pseudo-section, say), and "matches:"
// a regexp against the whole output. Omitted keys are not checked.
type digCase struct {
	file     string
	line     int
	title    string
	args     []string
	status   string
	flags    []string
	sections map[string][]string // "ANSWER" -> records; present = checked
	counts   map[string]int
	contains []string
	absent   []string
	matches  []*regexp.Regexp
}

func (c digCase) String() string { return fmt.Sprintf("%s:%d %s", c.file, c.line, c.title) }

func parseCaseFile(path string) ([]digCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		cases   []digCase
		cur     *digCase
		section string
		lineNo  int
	)
	start := func() {
		cases = append(cases, digCase{file: filepath.Base(path), line: lineNo,
			sections: map[string][]string{}, counts: map[string]int{}})
		cur = &cases[len(cases)-1]
		section = ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "---" {
			cur = nil
			continue
		}
		if line == "" {
			continue
		}
		if cur == nil {
			start()
		}
		if strings.HasPrefix(line, "#") {
			if cur.title == "" {
				cur.title = strings.TrimSpace(line[1:])
			}
			continue
		}
		key, val, isKey := strings.Cut(line, ":")
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if isKey && !strings.ContainsAny(key, " \t.") {
			section = ""
			switch key {
			case "dig":
				cur.args = strings.Fields(val)
			case "status":
				cur.status = val
			case "flags":
				cur.flags = strings.Fields(val)
				sort.Strings(cur.flags)
			case "answer", "authority", "additional":
				name := strings.ToUpper(key)
				cur.sections[name] = []string{}
				if val != "none" {
					if val != "" {
						return nil, fmt.Errorf("%s:%d: records go on the lines after %q", path, lineNo, key+":")
					}
					section = name
				}
			case "answer-count", "authority-count", "additional-count":
				var n int
				if _, err := fmt.Sscan(val, &n); err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %v", path, lineNo, key, err)
				}
				cur.counts[strings.ToUpper(strings.TrimSuffix(key, "-count"))] = n
			case "contains":
				cur.contains = append(cur.contains, val)
			case "absent":
				cur.absent = append(cur.absent, val)
			case "matches":
				re, err := regexp.Compile(val)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %v", path, lineNo, err)
				}
				cur.matches = append(cur.matches, re)
			default:
				return nil, fmt.Errorf("%s:%d: unknown key %q", path, lineNo, key)
			}
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: record outside a section: %q", path, lineNo, line)
		}
		cur.sections[section] = append(cur.sections[section], normRR(line))
	}
	kept := cases[:0]
	for _, c := range cases {
		if len(c.args) == 0 {
			if c.status != "" || c.flags != nil || len(c.sections) > 0 || len(c.counts) > 0 ||
				len(c.contains)+len(c.absent)+len(c.matches) > 0 {
				return nil, fmt.Errorf("%s: case without a dig: line", c)
			}
			continue // a block of comments only, such as a file's header
		}
		kept = append(kept, c)
	}
	return kept, sc.Err()
}

func normRR(s string) string { return strings.Join(strings.Fields(s), " ") }

// digReply is dig's text output taken apart.
type digReply struct {
	raw      string
	status   string
	flags    []string
	sections map[string][]string
}

var (
	headerRE = regexp.MustCompile(`status: ([A-Z0-9]+),`)
	flagsRE  = regexp.MustCompile(`;; flags:([^;]*);`)
)

func parseDig(out string) digReply {
	r := digReply{raw: out, sections: map[string][]string{}}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case headerRE.MatchString(line) && strings.Contains(line, "->>HEADER<<-"):
			r.status = headerRE.FindStringSubmatch(line)[1]
		case flagsRE.MatchString(line):
			r.flags = strings.Fields(flagsRE.FindStringSubmatch(line)[1])
			sort.Strings(r.flags)
		case strings.HasPrefix(line, ";; ") && strings.HasSuffix(line, " SECTION:"):
			section = strings.TrimSuffix(strings.TrimPrefix(line, ";; "), " SECTION:")
			r.sections[section] = []string{}
		case line == "" || strings.HasPrefix(line, ";"):
			if line == "" {
				section = ""
			}
		case section != "":
			r.sections[section] = append(r.sections[section], normRR(line))
		}
	}
	return r
}

// check returns every way the reply differs from the case.
func (c digCase) check(r digReply) []string {
	var bad []string
	if c.status != "" && c.status != r.status {
		bad = append(bad, fmt.Sprintf("status %s, want %s", r.status, c.status))
	}
	if c.flags != nil && strings.Join(c.flags, " ") != strings.Join(r.flags, " ") {
		bad = append(bad, fmt.Sprintf("flags %q, want %q", r.flags, c.flags))
	}
	for _, name := range []string{"ANSWER", "AUTHORITY", "ADDITIONAL"} {
		want, ok := c.sections[name]
		got := append([]string{}, r.sections[name]...)
		if ok {
			want = append([]string{}, want...)
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				bad = append(bad, fmt.Sprintf("%s section:\n  got  %s\n  want %s", name,
					strings.Join(got, "\n       "), strings.Join(want, "\n       ")))
			}
		}
		if n, ok := c.counts[name]; ok && n != len(got) {
			bad = append(bad, fmt.Sprintf("%s section has %d records, want %d", name, len(got), n))
		}
	}
	for _, s := range c.contains {
		if !containsLine(r.raw, s) {
			bad = append(bad, fmt.Sprintf("output lacks %q", s))
		}
	}
	for _, s := range c.absent {
		if strings.Contains(r.raw, s) {
			bad = append(bad, fmt.Sprintf("output has %q", s))
		}
	}
	for _, re := range c.matches {
		if !re.MatchString(r.raw) {
			bad = append(bad, fmt.Sprintf("output does not match %q", re))
		}
	}
	return bad
}

func containsLine(out, want string) bool {
	want = normRR(want)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(normRR(line), want) {
			return true
		}
	}
	return false
}
