package server

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/godwit-dns/godwit/internal/duration"
)

// typeErrors finds every value of the config file whose TOML type does not
// fit the key it sets. BurntSushi's decoder stops at the first such value
// and names the last key it read, which is often another table's; this
// decodes the file into plain TOML values and walks the Config type beside
// them, so each error has the key path with its array indices
// (service[0].target[1].weight), its own line, and words an operator uses.
// It returns nil if the file does not parse at all.
func (c *Config) typeErrors(data string) []error {
	var raw map[string]any
	if _, err := toml.Decode(data, &raw); err != nil {
		return nil
	}
	tc := typeChecker{cfg: c}
	tc.walk(reflect.TypeFor[Config](), raw, nil)
	slices.SortStableFunc(tc.errs, func(a, b error) int { return a.(*ConfigError).Line - b.(*ConfigError).Line })
	return tc.errs
}

type typeChecker struct {
	cfg  *Config
	errs []error
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[duration.Duration]()
)

// walk checks the TOML value v against Go type t at path (key names and
// array indices).
func (tc *typeChecker) walk(t reflect.Type, v any, path []string) {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		str, ok := v.(string)
		if !ok {
			if t == durationType {
				tc.fail(path, `a duration string with its unit, as "5s" or "500ms"`, v)
			} else {
				tc.fail(path, "a string", v)
			}
			return
		}
		// The value's own parser, as the decoder will call it: its error
		// with this key's path and line instead of the decoder's.
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(str)); err != nil {
			if t == durationType {
				tc.failMsg(path, fmt.Sprintf(`must be a duration with its unit, as "5s", "500ms" or "1m30s"; got %q`, str))
			} else {
				tc.failMsg(path, fmt.Sprintf("%q: %v", str, err))
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		tc.walk(t.Elem(), v, path)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			tc.fail(path, "a table", v)
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			if fv, ok := m[name]; ok {
				tc.walk(f.Type, fv, append(slices.Clip(path), name))
			}
		}
	case reflect.Slice, reflect.Array:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any:
			for _, e := range a {
				elems = append(elems, e)
			}
		default:
			tc.fail(path, "an array", v)
			return
		}
		for i, e := range elems {
			tc.walk(t.Elem(), e, append(slices.Clip(path), strconv.Itoa(i)))
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			tc.fail(path, "a table", v)
			return
		}
		for k, e := range m {
			tc.walk(t.Elem(), e, append(slices.Clip(path), k))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			tc.fail(path, "a string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			tc.fail(path, "true or false", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		switch {
		case !ok:
			tc.fail(path, "a whole number", v)
		case unsigned(t) && n < 0:
			tc.fail(path, "a whole number of at least 0", v)
		case overflows(t, n):
			tc.failMsg(path, fmt.Sprintf("%d is too large", n))
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case float64, int64:
		default:
			tc.fail(path, "a number", v)
		}
	}
}

func unsigned(t reflect.Type) bool { return t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr }

// overflows reports whether n does not fit an integer of type t.
func overflows(t reflect.Type, n int64) bool {
	if unsigned(t) {
		return reflect.New(t).Elem().OverflowUint(uint64(n))
	}
	return reflect.New(t).Elem().OverflowInt(n)
}

func (tc *typeChecker) fail(path []string, want string, got any) {
	tc.failMsg(path, fmt.Sprintf("must be %s, got %s", want, describeTOML(got)))
}

func (tc *typeChecker) failMsg(path []string, msg string) {
	tc.errs = append(tc.errs, &ConfigError{
		File: tc.cfg.path,
		Line: tc.cfg.lines.Line(strings.Join(path, ".")),
		Err:  fmt.Errorf("%s: %s", displayPath(path), msg),
	})
}

// displayPath writes a key path as an operator reads it:
// service[0].target[1].weight.
func displayPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if strings.ContainsAny(p, ". \"'=:") {
			p = strconv.Quote(p)
		}
		b.WriteString(p)
	}
	return b.String()
}

// describeTOML says what a TOML value is, in the words of the TOML spec.
func describeTOML(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return "the string " + strconv.Quote(x)
	case int64:
		return "the whole number " + strconv.FormatInt(x, 10)
	case float64:
		return "the number " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date or time"
	}
	return fmt.Sprintf("a %T", v)
}
