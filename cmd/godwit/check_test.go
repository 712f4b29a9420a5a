package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each testdata/config/*.bad.toml starts with "# error: TEXT": loading it
// must fail with TEXT (file:line and key) in the message.
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/config/*.bad.toml")
	if len(files) == 0 {
		t.Fatal("no bad configs found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("first line must be '# error: TEXT', got %q", first)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"check", "-config", f}, &stdout, &stderr)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("error output\n%s\ndoes not contain %q", stderr.String(), want)
			}
		})
	}
}

func TestGoodConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "-config", "../../testdata/config/good.toml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok: 1 zones, 1 services, 2 datacenters, 1 checks") {
		t.Errorf("unexpected summary %q", stdout.String())
	}
}

// The demo config embedded in the binary must always pass check.
func TestDemoConfigChecks(t *testing.T) {
	path, cleanup, err := unpackDemo()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "-config", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo config: exit status %d: %s", code, stderr.String())
	}
}

// Bad zone files: check prints each problem as file:line and exits 1, and
// serve refuses to start with the same message.
func TestBadZones(t *testing.T) {
	cases := []struct{ zone, want string }{
		{"$TTL 3600\n@ IN SOA ns1 host 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A 300.1.1.1\n", "example.test.zone:5:"},
		{"$TTL 3600\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", "example.test.zone:2:"},
		{"$TTL 3600\n@ IN SOA ns1 host 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nwww IN CNAME ns1\nwww IN TXT \"x\"\n", "example.test.zone:6:"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "zones", "example.test.zone"), []byte(c.zone), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "godwit.toml")
		if err := os.WriteFile(cfg, []byte("[server]\nlisten = [\"127.0.0.1:0\"]\n[status]\nlisten = \"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []string{"check", "serve"} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{sub, "-config", cfg}, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", sub, code, stderr.String(), c.want)
			}
		}
	}
}

// check prints warnings as file:line: warning: and still exits 0.
func TestCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "$TTL 3600\n@ IN SOA ns1 host 1 2 3 4 5\n@ IN NS ns1\n"
	if err := os.WriteFile(filepath.Join(dir, "zones", "example.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "godwit.toml")
	if err := os.WriteFile(cfg, []byte("[server]\nlisten = [\"127.0.0.1:0\"]\n[status]\nlisten = \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "-config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	zf := filepath.Join(dir, "zones", "example.test.zone")
	for _, want := range []string{
		zf + ":3: warning: zone example.test. has a single name server",
		zf + ":3: warning: name server ns1.example.test. of example.test. has no A or AAAA record",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr\n%s\ndoes not contain %q", stderr.String(), want)
		}
	}
	if !strings.Contains(stdout.String(), "ok: 1 zones, 0 services, 0 datacenters, 0 checks, 2 warnings") {
		t.Errorf("summary %q", stdout.String())
	}
}
