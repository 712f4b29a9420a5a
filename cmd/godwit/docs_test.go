package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// TestDocExamples runs the examples of README.md and docs/*.md against the
// real binary, so a page cannot drift from what Godwit does (issue 16 item 11):
//
//   - `$ godwit …` lines in a fenced block: run from the repository root; the
//     lines after them, up to the next `$ ` line, must be the command's output
//     (stdout and stderr together), compared line by line with blanks
//     collapsed and versions, durations and times normalised. A line `...`
//     stands for any number of lines. With no output shown the command must
//     exit 0. Bare `godwit` lines in a ```sh block run the same way;
//     `godwit ctl …` lines ask the status server of the demo (next item).
//   - `dig @127.0.0.1 -p 5353 …` lines (the `make run` demo), `$ `-prefixed
//     in any block or bare in a ```sh block: run against `godwit demo` on a
//     free port. The records shown must be dig's answer section (any order),
//     and every `;` line shown (CLIENT-SUBNET, flags, status) must appear in
//     dig's output. A bare line with nothing shown must get NOERROR.
//   - `curl` lines at localhost:8053 in a ```sh block: run (with bash, so
//     pipes into jq work) against the demo's status server; they must exit
//     0 and print neither an API error nor a null. Curl lines at any other
//     server are listed as not run.
//   - ```toml blocks: a block with a `[zones]` table is a whole config and
//     must pass `godwit check`. Any other block is a fragment: it is appended
//     to a minimal config (a zone gslb.example.test., datacenters ams, iad and
//     sin, a check "web", MaxMind's test City database; each left out when
//     the fragment defines its own) and must pass `godwit check`, except that
//     errors that only say a file the fragment names does not exist are
//     accepted: the fragments name keys, passwords and state files of a
//     deployment, which the repository does not hold.
//   - `$ dig` lines against any other server cannot run here and must be
//     marked to skip.
//   - A block marked `<!-- example: file routes -->` or `file zone ORIGIN`
//     is written where a minimal config names it and must pass `godwit
//     check` without warnings; `file case` runs it as dig acceptance cases
//     (digcase_test.go) against the demo.
//   - A TOML block marked `<!-- example: planned (reason) -->` documents keys
//     not wired in yet: `godwit check` must reject it with unknown-key
//     errors only, so the marker has to go when the keys arrive.
//
// A block opts out with `<!-- example: skip (reason) -->` on the line before
// it (blank lines between are allowed); `<!-- example: dir PATH -->` runs its
// `$ godwit` lines in PATH (relative to the repository root) instead. The
// skipped blocks are listed in the test log.
func TestDocExamples(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var blocks []docBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		bs, err := parseDocBlocks(rel, string(data))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, bs...)
	}
	bin := godwitBinary(t)

	// One demo server for every dig line, started by (and stopped with) the
	// parent test, and only when some block needs it.
	var demo *godwitProc
	demoAddr := func(sub *testing.T) (string, string) {
		testsupport.NeedTool(sub, "dig")
		if demo == nil {
			demo = startGodwit(t)
		}
		host, port, _ := strings.Cut(demo.dnsAddr, ":")
		return host, port
	}
	counts := map[string]int{}
	var skipped []string
	for _, b := range blocks {
		name := fmt.Sprintf("%s:%d", b.file, b.line)
		if b.planned != "" && b.lang == "toml" {
			counts["toml"]++
			t.Run(name, func(t *testing.T) { checkPlannedTOML(t, bin, root, b) })
			continue
		}
		if b.skip != "" || b.planned != "" {
			if b.runnable() {
				skipped = append(skipped, name+": "+b.skip+b.planned)
			}
			continue
		}
		if b.fileKind != "" {
			counts["file"]++
			t.Run(name, func(t *testing.T) {
				switch b.fileKind {
				case "case":
					demoAddr(t)
					checkCaseExample(t, demo, b)
					return
				case "usage":
					checkUsageExample(t, bin, b)
					return
				case "state":
					checkStateExample(t, bin, root, b)
					return
				case "querylog":
					checkQueryLogExample(t, root, b)
					return
				}
				checkFileExample(t, bin, root, b)
			})
			continue
		}
		if b.lang == "toml" {
			counts["toml"]++
			t.Run(name, func(t *testing.T) { checkTOMLExample(t, bin, root, b) })
			continue
		}
		for _, c := range b.commands() {
			cname := fmt.Sprintf("%s:%d", b.file, c.line)
			switch {
			case c.argv[0] == "godwit":
				counts["godwit"]++
				dir := root
				if b.dir != "" {
					dir = filepath.Join(root, b.dir)
				}
				t.Run(cname, func(t *testing.T) {
					status := ""
					if len(c.argv) > 1 && c.argv[1] == "ctl" {
						demoAddr(t)
						status = demo.statusAddr
					}
					checkGodwitExample(t, bin, dir, status, c)
				})
			case c.argv[0] == "dig" && isDemoDig(c.argv):
				counts["dig"]++
				t.Run(cname, func(t *testing.T) {
					host, port := demoAddr(t)
					checkDigExample(t, host, port, c)
				})
			case c.argv[0] == "curl" && demoStatusRE.MatchString(c.text):
				counts["curl"]++
				t.Run(cname, func(t *testing.T) {
					demoAddr(t)
					checkCurlExample(t, bin, demo.statusAddr, c)
				})
			case c.argv[0] == "curl":
				skipped = append(skipped, cname+": not run: asks "+c.argv[len(c.argv)-1]+", not the demo's status server")
			case c.argv[0] == "dig" && c.prompt:
				t.Errorf("%s: %q asks a server other than the demo (@127.0.0.1 -p 5353) and cannot run here: "+
					"mark the block <!-- example: skip (reason) -->", cname, c.text)
			}
		}
	}
	if counts["toml"] == 0 || counts["godwit"] == 0 || counts["dig"] == 0 {
		t.Errorf("found %d toml blocks, %d godwit and %d dig commands in %d files: the extractor is broken",
			counts["toml"], counts["godwit"], counts["dig"], len(files))
	}
	t.Logf("ran %d toml blocks, %d files, %d godwit, %d dig and %d curl commands from %d pages; skipped %d:\n  %s",
		counts["toml"], counts["file"], counts["godwit"], counts["dig"], counts["curl"], len(files), len(skipped),
		strings.Join(skipped, "\n  "))
}

// docBlock is one fenced block of a Markdown file.
type docBlock struct {
	file  string
	line  int // of the opening fence
	lang  string
	lines []string
	skip  string // the reason of a skip marker
	dir   string // a dir marker
	// planned is the reason of a planned marker: the block documents a
	// feature that is not wired in yet. A TOML block must then still be
	// rejected, with unknown keys only; other blocks are skipped.
	planned string
	// fileKind, from a file marker, says what file the block is: "routes"
	// (a routes file), "zone ORIGIN" (a zone file), "case" (dig cases of
	// the acceptance suite, run against the demo), "usage" (the commands'
	// usage lines, as `godwit help COMMAND` prints them), "state" (a
	// health state file) or "querylog" (a line of the query log).
	fileKind string
}

// docCommand is one command line of a block and the output shown after it.
type docCommand struct {
	line   int
	text   string   // the command line without "$ " and comment
	argv   []string // text split on blanks
	prompt bool     // written as "$ …"
	output []string // the lines shown after it, nil if none
}

var markerRE = regexp.MustCompile(`^\s*<!--\s*example:\s*(skip|dir|planned|file)\s+(.*?)\s*-->\s*$`)

// parseDocBlocks returns the fenced blocks of a Markdown file with their markers.
func parseDocBlocks(file, text string) ([]docBlock, error) {
	var blocks []docBlock
	var cur *docBlock
	var pendSkip, pendDir, pendPlanned, pendFile string
	pendLine := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if strings.HasPrefix(trimmed, "```") {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, line)
			continue
		}
		if m := markerRE.FindStringSubmatch(line); m != nil {
			reason := strings.TrimSuffix(strings.TrimPrefix(m[2], "("), ")")
			if reason == "" {
				return nil, fmt.Errorf("%s:%d: an example marker needs a reason or path", file, i+1)
			}
			switch m[1] {
			case "skip":
				pendSkip = reason
			case "planned":
				pendPlanned = reason
			case "file":
				pendFile = m[2]
			default:
				pendDir = m[2]
			}
			pendLine = i + 1
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			cur = &docBlock{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")),
				skip: pendSkip, dir: pendDir, planned: pendPlanned, fileKind: pendFile}
			pendSkip, pendDir, pendPlanned, pendFile = "", "", "", ""
			continue
		}
		if trimmed != "" && (pendSkip != "" || pendDir != "" || pendPlanned != "" || pendFile != "") {
			return nil, fmt.Errorf("%s:%d: example marker not followed by a fenced block", file, pendLine)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unclosed fenced block", file, cur.line)
	}
	if pendSkip != "" || pendDir != "" || pendPlanned != "" || pendFile != "" {
		return nil, fmt.Errorf("%s:%d: example marker not followed by a fenced block", file, pendLine)
	}
	return blocks, nil
}

// commands returns the runnable command lines of a block: `$ godwit`/`$ dig`
// lines in any block with the output after them, and bare `godwit`/`dig`
// lines in a ```sh block.
func (b docBlock) commands() []docCommand {
	var cmds []docCommand
	var cur, cont *docCommand
	flush := func() {
		if cur != nil {
			for len(cur.output) > 0 && strings.TrimSpace(cur.output[len(cur.output)-1]) == "" {
				cur.output = cur.output[:len(cur.output)-1]
			}
			cmds = append(cmds, *cur)
			cur = nil
		}
	}
	for i, line := range b.lines {
		lineNo := b.line + 1 + i
		if rest, ok := strings.CutPrefix(line, "$ "); ok {
			flush()
			cur = &docCommand{line: lineNo, prompt: true}
			cur.text = stripShellComment(rest)
			cur.argv = strings.Fields(cur.text)
			continue
		}
		if cur != nil {
			cur.output = append(cur.output, line)
			continue
		}
		if b.lang == "sh" {
			if cont != nil {
				cont.text += " " + strings.TrimSpace(strings.TrimSuffix(stripShellComment(line), "\\"))
				cont.argv = strings.Fields(cont.text)
				if !strings.HasSuffix(strings.TrimSpace(line), "\\") {
					cmds = append(cmds, *cont)
					cont = nil
				}
				continue
			}
			text := stripShellComment(line)
			argv := strings.Fields(text)
			if len(argv) > 0 && (argv[0] == "godwit" || argv[0] == "dig" || argv[0] == "curl") {
				c := docCommand{line: lineNo, text: text, argv: argv}
				if strings.HasSuffix(text, "\\") {
					c.text = strings.TrimSpace(strings.TrimSuffix(text, "\\"))
					cont = &c
					continue
				}
				cmds = append(cmds, c)
			}
		}
	}
	flush()
	var out []docCommand
	for _, c := range cmds {
		if len(c.argv) > 0 && (c.argv[0] == "godwit" || c.argv[0] == "dig" || c.argv[0] == "curl") {
			out = append(out, c)
		}
	}
	return out
}

// runnable reports whether the block holds anything the test would run.
func (b docBlock) runnable() bool {
	return b.lang == "toml" || len(b.commands()) > 0
}

// stripShellComment drops a trailing "# comment" (a '#' after a blank).
func stripShellComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// isDemoDig reports whether a dig command line asks the `make run` demo.
func isDemoDig(argv []string) bool {
	return slices.Contains(argv, "@127.0.0.1") && slices.Contains(argv, "5353") &&
		slices.Index(argv, "5353") > 0 && argv[slices.Index(argv, "5353")-1] == "-p"
}

var (
	versionRE  = regexp.MustCompile(`\bgodwit (dev|v?\d+\.\d+\S*)`)
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|m|h|msec)\b`)
	timeRE     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	digIDRE    = regexp.MustCompile(`\bid: \d+`)
)

// normDocLine makes a shown line and an output line comparable: blanks
// collapsed, the version, durations, times and dig message IDs replaced.
func normDocLine(s, tmp string) string {
	if tmp != "" {
		s = strings.ReplaceAll(s, tmp+string(filepath.Separator), "")
	}
	s = versionRE.ReplaceAllString(s, "godwit VERSION")
	s = timeRE.ReplaceAllString(s, "TIME")
	s = durationRE.ReplaceAllString(s, "DURATION")
	s = digIDRE.ReplaceAllString(s, "id: ID")
	return strings.Join(strings.Fields(s), " ")
}

// matchShown compares the shown lines with the output; a shown "..." (or
// "…") matches any number of lines. It returns "" or what differs.
func matchShown(shown, got []string) string {
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(shown) {
			return j == len(got)
		}
		if shown[i] == "..." || shown[i] == "…" {
			for k := j; k <= len(got); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		}
		return j < len(got) && shown[i] == got[j] && match(i+1, j+1)
	}
	if match(0, 0) {
		return ""
	}
	// The first line that differs, for the message.
	for i := range shown {
		if shown[i] == "..." || shown[i] == "…" {
			break
		}
		if i >= len(got) || shown[i] != got[i] {
			g := "(end of output)"
			if i < len(got) {
				g = got[i]
			}
			return fmt.Sprintf("shown line %d:\n  doc: %s\n  got: %s", i+1, shown[i], g)
		}
	}
	return "the output does not match the lines shown"
}

func normLines(lines []string, tmp string) []string {
	var out []string
	for _, l := range lines {
		if n := normDocLine(l, tmp); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// checkGodwitExample runs a `godwit …` line and compares its output. A
// `godwit ctl` line asks the demo's status server at status.
func checkGodwitExample(t *testing.T, bin, dir, status string, c docCommand) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := c.argv[1:]
	switch {
	case len(args) == 0:
	case args[0] == "ctl":
		if status == "" {
			t.Fatal("the demo has no status server")
		}
		args = append([]string{"ctl", "-status", status}, args[1:]...)
	case slices.Contains([]string{"check", "explain", "version", "help", "-h", "--help"}, args[0]):
	default:
		t.Fatalf("%q: only check, explain, version, help and ctl (against the demo) run here; mark the block skip", c.text)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if c.output == nil {
		if err != nil {
			t.Errorf("%s: %v\n%s", c.text, err, out)
		}
		return
	}
	got := normLines(strings.Split(string(out), "\n"), "")
	if d := matchShown(normLines(c.output, ""), got); d != "" {
		t.Errorf("$ %s (%v)\n%s\n--- output:\n%s", c.text, err, d, out)
	}
}

// checkDigExample runs a demo dig line against the demo on host:port.
func checkDigExample(t *testing.T, host, port string, c docCommand) {
	var args []string
	for i := 1; i < len(c.argv); i++ {
		switch {
		case strings.HasPrefix(c.argv[i], "@"):
			args = append(args, "@"+host)
		case c.argv[i] == "-p" && i+1 < len(c.argv):
			args = append(args, "-p", port)
			i++
		default:
			args = append(args, c.argv[i])
		}
	}
	args = append(args, "+time=2", "+tries=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outb, err := exec.CommandContext(ctx, testsupport.NeedTool(t, "dig"), args...).CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	reply := parseDig(out)
	answer := reply.sections["ANSWER"]
	if _, ok := reply.sections["ANSWER"]; !ok && reply.status == "" {
		// +noall +answer: every record line is the answer.
		for _, l := range strings.Split(out, "\n") {
			if isRRLine(l) {
				answer = append(answer, normRR(l))
			}
		}
	}
	if c.output == nil {
		if reply.status != "" && reply.status != "NOERROR" || len(answer) == 0 {
			t.Errorf("%s: status %q, %d answers, want NOERROR with an answer\n%s", c.text, reply.status, len(answer), out)
		}
		return
	}
	var shownRRs []string
	outNorm := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		outNorm[normDocLine(l, "")] = true
	}
	for _, l := range c.output {
		switch {
		case isRRLine(l):
			shownRRs = append(shownRRs, normRR(l))
		case strings.HasPrefix(strings.TrimSpace(l), ";"):
			if n := normDocLine(l, ""); !outNorm[n] {
				t.Errorf("%s: shown line %q is not in dig's output", c.text, strings.TrimSpace(l))
			}
		}
	}
	a, b := slices.Clone(shownRRs), slices.Clone(answer)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Errorf("%s: the doc shows the records\n  %s\ndig's answer section has\n  %s\n--- dig output:\n%s",
			c.text, strings.Join(a, "\n  "), strings.Join(b, "\n  "), out)
	}
}

var rrLineRE = regexp.MustCompile(`^\S+\s+\d+\s+(IN|CH)\s+[A-Z0-9]+\s`)

func isRRLine(l string) bool { return rrLineRE.MatchString(strings.TrimSpace(l) + " ") }

// docBaseConfig is what a TOML fragment is added to, keyed by the table the
// fragment would define itself.
func docBaseConfig(root string) map[string]string {
	j := func(p string) string { return filepath.ToSlash(filepath.Join(root, p)) }
	return map[string]string{
		"[zones]": fmt.Sprintf("[zones]\ndir = %q\n", j("testdata/config/zones")),
		"[geo]":   fmt.Sprintf("[geo]\ncity_db = %q\n", j("testdata/geoip/GeoIP2-City-Test.mmdb")),
		"[[datacenter]]": `[[datacenter]]
name = "ams"
location = [52.37, 4.90]
asn = [65001]

[[datacenter]]
name = "iad"
location = [39.04, -77.49]
asn = [65002]

[[datacenter]]
name = "sin"
location = [1.35, 103.82]
asn = [65003]
`,
		"[[check]]": "[[check]]\nname = \"web\"\ntype = \"tcp\"\nport = 80\n",
	}
}

var missingFileRE = regexp.MustCompile(`no such file or directory|does not exist`)

// runTOMLCheck runs `godwit check` on a TOML block, whole (when it has a
// [zones] table) or as a fragment of a minimal config. It returns the error
// lines, without those about missing files when the block is a fragment.
func runTOMLCheck(t *testing.T, bin, root string, b docBlock) (bad []string, cfg string) {
	t.Helper()
	body := strings.Join(b.lines, "\n") + "\n"
	defines := func(header string) bool {
		for _, l := range b.lines {
			if strings.TrimSpace(l) == header {
				return true
			}
		}
		return false
	}
	whole := defines("[zones]")
	cfg = body
	if !whole {
		// The base tables first: the fragment's first header may be a
		// sub-table such as [server.rrl], which must not swallow the base's
		// keys. Each is left out when the fragment defines its own.
		base := docBaseConfig(root)
		var pre []string
		for _, h := range []string{"[zones]", "[geo]", "[[datacenter]]", "[[check]]"} {
			if !defines(h) {
				pre = append(pre, base[h])
			}
		}
		cfg = strings.Join(pre, "\n") + "\n" + body
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check", "-config", path).CombinedOutput()
	if err == nil {
		return nil, cfg
	}
	if ctx.Err() != nil {
		t.Fatalf("godwit check did not finish: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" || (!whole && missingFileRE.MatchString(l)) {
			continue
		}
		bad = append(bad, strings.ReplaceAll(l, path, "godwit.toml"))
	}
	if len(bad) == 0 {
		t.Logf("accepted: only missing files:\n%s", out)
	}
	return bad, cfg
}

// checkTOMLExample: the block must pass `godwit check`.
func checkTOMLExample(t *testing.T, bin, root string, b docBlock) {
	if bad, cfg := runTOMLCheck(t, bin, root, b); len(bad) > 0 {
		t.Errorf("godwit check on the block:\n%s\n--- config:\n%s", strings.Join(bad, "\n"), cfg)
	}
}

// checkPlannedTOML: a block marked planned documents keys Godwit does not
// read yet; `godwit check` must reject them as unknown and nothing else, so
// the marker is dropped (and the block checked) once they are wired in.
func checkPlannedTOML(t *testing.T, bin, root string, b docBlock) {
	bad, cfg := runTOMLCheck(t, bin, root, b)
	if len(bad) == 0 {
		t.Errorf("the block is marked planned (%s) but passes godwit check now: remove the marker", b.planned)
	}
	for _, l := range bad {
		if !strings.Contains(l, "unknown key") {
			t.Errorf("planned block: an error other than an unknown key: %s\n--- config:\n%s", l, cfg)
		}
	}
}

// checkFileExample writes a block marked `file routes` or `file zone ORIGIN`
// where a config names it and runs `godwit check`, which must pass without
// warnings.
func checkFileExample(t *testing.T, bin, root string, b docBlock) {
	dir := t.TempDir()
	body := strings.Join(b.lines, "\n") + "\n"
	base := docBaseConfig(root)
	var cfg string
	kind, arg, _ := strings.Cut(b.fileKind, " ")
	switch kind {
	case "routes":
		if err := os.WriteFile(filepath.Join(dir, "routes"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg = base["[zones]"] + "\n[routes]\nfile = \"routes\"\n\n" + base["[[datacenter]]"]
	case "zone":
		if arg == "" {
			t.Fatalf("a zone file marker needs the origin: <!-- example: file zone ORIGIN -->")
		}
		if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "zones", arg+".zone"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg = "[zones]\ndir = \"zones\"\n"
	default:
		t.Fatalf("unknown file kind %q (routes, zone ORIGIN, case)", b.fileKind)
	}
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "-config", "godwit.toml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("godwit check on the block as %s (%v):\n%s", b.fileKind, err, out)
	}
}

// checkCaseExample runs a block marked `file case` as dig cases against the demo.
func checkCaseExample(t *testing.T, demo *godwitProc, b docBlock) {
	path := filepath.Join(t.TempDir(), "doc.case")
	if err := os.WriteFile(path, []byte(strings.Join(b.lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases, err := parseCaseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no dig case in the block")
	}
	for _, c := range cases {
		out := demo.dig(t, c.args...)
		if bad := c.check(parseDig(out)); len(bad) > 0 {
			t.Errorf("%s\ndig %s\n%s\n--- dig output:\n%s", c, strings.Join(c.args, " "), strings.Join(bad, "\n"), out)
		}
	}
}

// TestDocExampleParsing holds the extractor to what TestDocExamples relies on:
// markers attach to the next block, `$` lines carry their output, bare lines
// run only in ```sh blocks, and "..." elides lines.
func TestDocExampleParsing(t *testing.T) {
	page := "text\n" +
		"<!-- example: skip (needs a lab) -->\n\n" +
		"```\n$ dig @192.0.2.1 x\nx. 1 IN A 192.0.2.1\n```\n" +
		"```sh\ndig @127.0.0.1 -p 5353 www.example.test   # a comment\nmake run\n```\n" +
		"```\ngodwit ctl status\n$ godwit version\ngodwit dev\n\n$ godwit check -config x.toml\n```\n" +
		"<!-- example: dir testdata/x -->\n```toml\n[zones]\n```\n"
	blocks, err := parseDocBlocks("p.md", page)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 4 {
		t.Fatalf("%d blocks, want 4", len(blocks))
	}
	if blocks[0].skip != "needs a lab" || blocks[0].line != 4 || blocks[1].skip != "" {
		t.Errorf("skip marker: %+v / %+v", blocks[0], blocks[1])
	}
	if blocks[3].dir != "testdata/x" || blocks[3].lang != "toml" {
		t.Errorf("dir marker: %+v", blocks[3])
	}
	sh := blocks[1].commands()
	if len(sh) != 1 || sh[0].text != "dig @127.0.0.1 -p 5353 www.example.test" || sh[0].prompt || sh[0].output != nil ||
		sh[0].line != 9 || !isDemoDig(sh[0].argv) {
		t.Errorf("sh block commands: %+v", sh)
	}
	plain := blocks[2].commands()
	if len(plain) != 2 || plain[0].text != "godwit version" || !slices.Equal(plain[0].output, []string{"godwit dev"}) ||
		plain[1].output != nil {
		t.Errorf("$ commands: %+v", plain)
	}
	cont, err := parseDocBlocks("p.md", "```sh\ncurl -X POST \\\n  -d '{}' \\\n  localhost:8053/x   # c\ncurl y\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if cs := cont[0].commands(); len(cs) != 2 || cs[0].text != "curl -X POST -d '{}' localhost:8053/x" || cs[0].line != 2 {
		t.Errorf("continued lines: %+v", cs)
	}
	if isDemoDig(strings.Fields("dig @127.0.0.1 -p 5300 x")) || isDemoDig(strings.Fields("dig @127.0.0.40 x")) {
		t.Error("isDemoDig accepts another server")
	}
	for _, bad := range []string{
		"<!-- example: skip -->\n```\n```\n",           // no reason
		"<!-- example: skip (x) -->\ntext\n```\n```\n", // not followed by a block
		"```toml\n[zones]\n",                           // unclosed
	} {
		if _, err := parseDocBlocks("p.md", bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}

	got := normLines([]string{"godwit v1.2.3", "a\t b", "", "took 12.5ms at 2026-01-02T03:04:05Z", "c"}, "")
	for _, tc := range []struct {
		shown []string
		ok    bool
	}{
		{[]string{"godwit dev", "a b", "took 3 s at 2027-01-01T00:00:00Z", "c"}, true},
		{[]string{"godwit dev", "...", "c"}, true},
		{[]string{"...", "a b", "...", "c"}, true},
		{[]string{"..."}, true},
		{[]string{"godwit dev", "a b"}, false},      // output not all shown
		{[]string{"godwit dev", "...", "d"}, false}, // a wrong line after the elision
		{[]string{"a b", "..."}, false},             // order matters
	} {
		if d := matchShown(normLines(tc.shown, ""), got); (d == "") != tc.ok {
			t.Errorf("matchShown(%q): %q, want match %v", tc.shown, d, tc.ok)
		}
	}
}

// demoStatusRE finds the status address of `make run` in a curl line.
var demoStatusRE = regexp.MustCompile(`\b(localhost|127\.0\.0\.1):8053\b`)

// checkCurlExample runs a curl line (a shell pipeline, e.g. into jq) against
// the demo's status server: it must exit 0, print something, and neither an
// API error nor a null (a field the API does not have). Overrides it sets are
// cleared afterwards, so the demo answers the next examples unchanged.
func checkCurlExample(t *testing.T, bin, statusAddr string, c docCommand) {
	text := demoStatusRE.ReplaceAllString(c.text, statusAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", text).CombinedOutput()
	t.Cleanup(func() { clearDemoOverrides(t, bin, statusAddr, text) })
	o := string(out)
	if err != nil || strings.TrimSpace(o) == "" || strings.Contains(o, `"error"`) ||
		regexp.MustCompile(`(?m)(^null$|: null\b)`).MatchString(o) {
		t.Errorf("%s (%v):\n%s", text, err, o)
	}
}

// overrideBodyRE finds the override a curl line posts.
var overrideBodyRE = regexp.MustCompile(`"kind"\s*:\s*"(\w+)"\s*,\s*"key"\s*:\s*"([^"]+)"`)

// clearDemoOverrides clears the overrides a curl line posted. (It does not
// list them: the status snapshot that `ctl override list` reads shows a new
// override only some 0.3 s after the POST returned.)
func clearDemoOverrides(t *testing.T, bin, statusAddr, text string) {
	for _, m := range overrideBodyRE.FindAllStringSubmatch(text, -1) {
		if out, err := exec.Command(bin, "ctl", "-status", statusAddr, "override", "clear", m[1], m[2]).CombinedOutput(); err != nil {
			t.Errorf("ctl override clear %s %s: %v\n%s", m[1], m[2], err, out)
		}
	}
}

// checkUsageExample compares each `godwit COMMAND …` line of a block marked
// `file usage` with the usage line `godwit help COMMAND` prints; "[serve]"
// (the default command) stands for serve.
func checkUsageExample(t *testing.T, bin string, b docBlock) {
	n := 0
	for _, l := range b.lines {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "godwit" {
			continue
		}
		n++
		cmdName := strings.Trim(f[1], "[]")
		want := strings.Join(append([]string{"godwit", cmdName}, f[2:]...), " ")
		out, err := exec.Command(bin, "help", cmdName).CombinedOutput()
		first, _, _ := strings.Cut(string(out), "\n")
		got := strings.Join(strings.Fields(strings.TrimPrefix(first, "usage: ")), " ")
		if err != nil || got != want {
			t.Errorf("godwit help %s (%v):\n  doc: %s\n  got: %s", cmdName, err, want, got)
		}
	}
	if n == 0 {
		t.Error("no godwit lines in the usage block")
	}
}

// checkStateExample serves a config whose [health] state_file is the block
// (`godwit check` does not read state files; `serve` refuses a bad one at
// start) and requires every override line of it in `ctl override list`.
func checkStateExample(t *testing.T, bin, root string, b docBlock) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte(strings.Join(b.lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := docBaseConfig(root)
	cfg := base["[zones]"] + "\n[health]\nstate_file = \"state\"\n\n" + base["[[datacenter]]"] + `
[[service]]
name = "www.gslb.example.test."

  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10", "192.0.2.11"]

  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.20"]
`
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startGodwit(t, "-config", path)
	out, err := exec.Command(bin, "ctl", "-status", s.statusAddr, "-json", "override", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ctl override list: %v\n%s", err, out)
	}
	var list []struct{ Key, State string }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("ctl override list: %v\n%s", err, out)
	}
	for _, l := range b.lines {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 2 || !slices.ContainsFunc(list, func(o struct{ Key, State string }) bool {
			return o.Key == f[0] && o.State == f[1]
		}) {
			t.Errorf("state line %q is not among the overrides in force: %s", l, out)
		}
	}
}

// checkQueryLogExample serves a geo service with the query log on, asks it
// once with an ECS option, and requires the log line to have the keys of the
// block's JSON line, with values of the same JSON types.
func checkQueryLogExample(t *testing.T, root string, b docBlock) {
	var shown map[string]any
	if err := json.Unmarshal([]byte(strings.Join(b.lines, "\n")), &shown); err != nil {
		t.Fatalf("the block is not one JSON object: %v", err)
	}
	dir := t.TempDir()
	base := docBaseConfig(root)
	cfg := base["[zones]"] + "\n" + base["[geo]"] + "\n[log]\nqueries = \"queries.log\"\n\n" + base["[[datacenter]]"] + `
[[service]]
name = "www.gslb.example.test."
policy = "geo"

  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10"]

  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.20"]
`
	path := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startGodwit(t, "-config", path)
	if out := s.dig(t, "www.gslb.example.test", "A", "+subnet=81.2.69.0/24"); !strings.Contains(out, "status: NOERROR") {
		t.Fatalf("dig:\n%s", out)
	}
	var line []byte
	testsupport.WaitFor(t, "a query log line", 10*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "queries.log"))
		line, _, _ = bytes.Cut(data, []byte("\n"))
		return len(data) > 0 && bytes.HasSuffix(data, []byte("\n"))
	})
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("query log line %s: %v", line, err)
	}
	for k, v := range shown {
		if g, ok := got[k]; !ok {
			t.Errorf("the doc shows key %q; the log line has none: %s", k, line)
		} else if fmt.Sprintf("%T", g) != fmt.Sprintf("%T", v) {
			t.Errorf("key %q: the doc shows a %T, the log has a %T: %s", k, v, g, line)
		}
	}
	for k := range got {
		if _, ok := shown[k]; !ok {
			t.Errorf("the log line has key %q the doc does not show: %s", k, line)
		}
	}
}
