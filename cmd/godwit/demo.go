package main

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// demoFS is the built-in demo: config, zones and a small generated GeoIP
// database. `godwit` with no -config serves it.
//
//go:embed demo
var demoFS embed.FS

// demoPrefix starts the name of the directory the demo is unpacked into.
const demoPrefix = "godwit-demo-"

// unpackDemo writes the demo files to a fresh temporary directory (the
// loaders read files, and the demo must run with no setup) and returns the
// config path and a function that removes the directory.
func unpackDemo() (string, func(), error) {
	dir, err := os.MkdirTemp("", demoPrefix)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	err = fs.WalkDir(demoFS, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("demo", p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := demoFS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return filepath.Join(dir, "godwit.toml"), cleanup, nil
}
