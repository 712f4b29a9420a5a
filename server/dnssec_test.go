package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keysEnv lays out a config with one zone, example.test, and its keys
// (a KSK and a ZSK from dnssec/testdata) in keys/.
func keysEnv(t *testing.T) (dir string, cfg *Config) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"zones", "keys"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("godwit.toml", "[zones]\ndir = \"zones\"\n\n[dnssec]\nkeys_dir = \"keys\"\nvalidity = \"48h\"\n")
	write("zones/example.test.zone", exampleZone(1))
	files, _ := filepath.Glob("../dnssec/testdata/keys/Kexample.test.*")
	if len(files) != 4 {
		t.Fatalf("testdata keys: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write("keys/"+filepath.Base(f), string(b))
	}
	cfg, err := loadConfig(filepath.Join(dir, "godwit.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DNSSEC.KeysDir != filepath.Join(dir, "keys") {
		t.Fatalf("keys_dir %q not relative to the config's directory", cfg.DNSSEC.KeysDir)
	}
	return dir, cfg
}

// TestKeysReload: the signers are built into the generation, kept (warm
// caches) while the keys do not change, kept when a key file breaks (the
// error names the file), and rebuilt when the keys change.
func TestKeysReload(t *testing.T) {
	dir, cfg := keysEnv(t)
	g0, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g0.Signers().Zone("example.test.") == nil {
		t.Fatal("example.test. is not signed")
	}
	if w, err := CheckKeys(g0, time.Now()); err != nil || len(w) != 0 {
		t.Errorf("CheckKeys: %v %v", w, err)
	}

	ks := g0.keyStatuses(time.Now())
	if len(ks) != 2 || ks[0].Role == ks[1].Role || ks[0].State != "active" || ks[1].State != "active" || ks[0].SignaturesValid != 48*3600 {
		t.Errorf("key statuses %+v: want a KSK and a ZSK, active, signatures valid 48h", ks)
	}

	var ch changes
	ch.addZone(filepath.Join(dir, "zones/example.test.zone"))
	g1, rep := build(g0, nil, ch)
	if len(rep.errs()) != 0 || g1.sign != g0.sign {
		t.Fatalf("a zone reload rebuilt the signers (errors %v)", rep.errs())
	}

	zsk, _ := filepath.Glob(filepath.Join(dir, "keys", "Kexample.test.+013+*.private"))
	good, err := os.ReadFile(zsk[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "PrivateKey: ", "PrivateKey: A", 1)
	if err := os.WriteFile(zsk[0], []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	g2, rep := build(g1, nil, changes{keys: true})
	errs := rep.errs()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), filepath.Base(zsk[0])) {
		t.Errorf("broken key: errors %v, want one naming %s", errs, filepath.Base(zsk[0]))
	}
	if g2.sign != g1.sign {
		t.Error("a broken key replaced the last good keys")
	}
	if _, err := CheckKeys(g2, time.Now()); err == nil || !strings.Contains(err.Error(), filepath.Base(zsk[0])) {
		t.Errorf("CheckKeys on a broken key: %v", err)
	}

	if err := os.WriteFile(zsk[0], good, 0o600); err != nil {
		t.Fatal(err)
	}
	g3, rep := build(g2, nil, changes{keys: true})
	if len(rep.errs()) != 0 || g3.sign == g2.sign || g3.Signers().Zone("example.test.") == nil {
		t.Errorf("fixed keys: errors %v, rebuilt %v", rep.errs(), g3.sign != g2.sign)
	}

	ds, err := DS(cfg, "EXAMPLE.test", time.Now())
	if err != nil || len(ds) != 1 || ds[0].DigestType != 2 {
		t.Errorf("DS: %v %v", ds, err)
	}
}

func TestWatchPathsKeys(t *testing.T) {
	p := watchPaths{config: "/etc/g/godwit.toml", zonesDir: "/etc/g/zones", keysDir: "/etc/g/keys"}
	for name, want := range map[string]string{
		"/etc/g/keys/Kz.+013+00001.key":     "keys",
		"/etc/g/keys/Kz.+013+00001.private": "keys",
		"/etc/g/keys/.Kz.swp":               "",
		"/etc/g/keys/..data":                "keys",
	} {
		var ch changes
		if hit := p.classify(name, &ch); hit != (want != "") || ch.String() != want {
			t.Errorf("%s: %v %q, want %q", name, hit, ch.String(), want)
		}
	}
	if !p.dirs()["/etc/g/keys"] {
		t.Errorf("dirs %v: no keys directory", p.dirs())
	}
}
