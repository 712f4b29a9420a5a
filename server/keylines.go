package server

import (
	"strconv"
	"strings"
)

// keyLines maps TOML key paths to the line that defines them, so that errors
// found after decoding (unknown keys, failed validation) can name file:line.
// BurntSushi/toml keeps key positions private, so this is a small line scanner
// that understands what our config uses: tables, arrays of tables, dotted and
// quoted keys, and values spanning lines (arrays, multi-line strings).
//
// Paths use "." between parts and give array-of-table indices as numbers:
// "service.2.target.0.weight".
type keyLines struct {
	lines map[string]int
}

func indexKeyLines(src string) keyLines {
	kl := keyLines{lines: map[string]int{}}
	counts := map[string]int{} // resolved array-of-tables path -> entries seen
	var table []string         // current table path, with indices
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		lineNo := i + 1
		switch {
		case line == "" || line[0] == '#':
			continue
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			parts := splitKey(line[2:end])
			parent := resolveTable(parts[:len(parts)-1], counts)
			arr := strings.Join(append(parent, parts[len(parts)-1]), ".")
			n := counts[arr]
			counts[arr] = n + 1
			table = append(append([]string{}, parent...), parts[len(parts)-1], strconv.Itoa(n))
			kl.set(table, lineNo)
		case line[0] == '[':
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = resolveTable(splitKey(line[1:end]), counts)
			kl.set(table, lineNo)
		default:
			eq := equalsOutsideQuotes(line)
			if eq < 0 {
				continue
			}
			key := append(append([]string{}, table...), splitKey(line[:eq])...)
			kl.set(key, lineNo)
			value := strings.TrimSpace(line[eq+1:])
			if strings.HasPrefix(value, "{") {
				kl.inline(key, value, lineNo)
			}
			i = skipValue(lines, i, value)
		}
	}
	return kl
}

func (kl keyLines) set(path []string, line int) {
	k := strings.Join(path, ".")
	if _, ok := kl.lines[k]; !ok {
		kl.lines[k] = line
	}
}

// inline records the keys of a one-line inline table such as
// map = { "continent:EU" = ["ams"], "country:US" = ["iad"] }.
func (kl keyLines) inline(prefix []string, value string, line int) {
	body := strings.TrimSuffix(strings.TrimPrefix(value, "{"), "}")
	depth, inStr, start := 0, byte(0), 0
	for j := 0; j <= len(body); j++ {
		if j < len(body) {
			c := body[j]
			switch {
			case inStr != 0:
				if c == inStr {
					inStr = 0
				}
				continue
			case c == '"' || c == '\'':
				inStr = c
				continue
			case c == '[' || c == '{':
				depth++
				continue
			case c == ']' || c == '}':
				depth--
				continue
			case c != ',' || depth > 0:
				continue
			}
		}
		part := body[start:j]
		start = j + 1
		if eq := equalsOutsideQuotes(part); eq >= 0 {
			kl.set(append(append([]string{}, prefix...), splitKey(part[:eq])...), line)
		}
	}
}

// Line returns the line of path, or of its nearest enclosing table or key
// that is in the file, or 0.
func (kl keyLines) Line(path string) int {
	for path != "" {
		if l, ok := kl.lines[path]; ok {
			return l
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// LinesOf returns the lines of every key whose path, with array indices
// removed, equals plain (BurntSushi's Undecoded keys carry no indices).
func (kl keyLines) LinesOf(plain string) []int {
	var out []int
	for k, l := range kl.lines {
		if stripIndices(k) == plain {
			out = append(out, l)
		}
	}
	return out
}

func stripIndices(path string) string {
	parts := strings.Split(path, ".")
	kept := parts[:0]
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

// resolveTable turns a header like service.target into service.<last index>.target
// by inserting the current index after every array-of-tables prefix.
func resolveTable(parts []string, counts map[string]int) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p)
		if n, ok := counts[strings.Join(out, ".")]; ok {
			out = append(out, strconv.Itoa(n-1))
		}
	}
	return out
}

// splitKey splits a (possibly dotted, possibly quoted) TOML key.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	inStr := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr != 0:
			if c == inStr {
				inStr = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			inStr = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

func equalsOutsideQuotes(s string) int {
	inStr := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr != 0:
			if c == inStr {
				inStr = 0
			}
		case c == '"' || c == '\'':
			inStr = c
		case c == '=':
			return i
		}
	}
	return -1
}

// skipValue returns the index of the last line of a value that starts on
// line i: multi-line arrays and multi-line strings continue past it.
func skipValue(lines []string, i int, value string) int {
	if strings.HasPrefix(value, `"""`) || strings.HasPrefix(value, "'''") {
		delim := value[:3]
		if strings.Count(value, delim) >= 2 {
			return i
		}
		for j := i + 1; j < len(lines); j++ {
			if strings.Contains(lines[j], delim) {
				return j
			}
		}
		return len(lines) - 1
	}
	depth := bracketDepth(value)
	for j := i + 1; depth > 0 && j < len(lines); j++ {
		depth += bracketDepth(lines[j])
		if depth <= 0 {
			return j
		}
	}
	return i
}

// bracketDepth counts [ minus ] outside strings and comments.
func bracketDepth(s string) int {
	d, inStr := 0, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr != 0:
			if c == '\\' && inStr == '"' {
				i++
			} else if c == inStr {
				inStr = 0
			}
		case c == '"' || c == '\'':
			inStr = c
		case c == '#':
			return d
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}
