package server

import (
	"sort"
	"sync"
	"time"

	"github.com/godwit-dns/godwit/status"
)

// fileLog remembers, per input file, when the version serving now was
// loaded and the last load error, for the status page.
type fileLog struct {
	mu    sync.Mutex
	files map[string]*status.FileStatus
	warns map[string]string // runtime warnings for the status page, by key
}

func newFileLog() *fileLog {
	return &fileLog{files: map[string]*status.FileStatus{}, warns: map[string]string{}}
}

// warn sets the warning kept under key (one per key: a later warn replaces
// it); the status page shows it until clearWarning(key).
func (l *fileLog) warn(key, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns[key] = msg
}

// clearWarning removes the warning kept under key, if any.
func (l *fileLog) clearWarning(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.warns, key)
}

// warnings lists the runtime warnings in force, sorted by key.
func (l *fileLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.warns))
	for k := range l.warns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = l.warns[k]
	}
	return out
}

func (l *fileLog) ok(kind, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.get(kind, path)
	f.LoadedAt, f.OK, f.LastError = time.Now(), true, ""
}

func (l *fileLog) failed(kind, path string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.get(kind, path)
	f.OK, f.LastError, f.LastErrorAt = false, err.Error(), time.Now()
}

func (l *fileLog) get(kind, path string) *status.FileStatus {
	f, ok := l.files[path]
	if !ok {
		f = &status.FileStatus{Kind: kind, Path: path}
		l.files[path] = f
	}
	return f
}

func (l *fileLog) list() []status.FileStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]status.FileStatus, 0, len(l.files))
	for _, f := range l.files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Path < out[j].Kind+out[j].Path })
	return out
}

// removed forgets a file that is gone: what it held is unloaded, which is
// no failure.
func (l *fileLog) removed(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.files, path)
}

// loaded records every file of the first generation.
func (l *fileLog) loaded(g *Generation) {
	cfg := g.Config
	if !cfg.flags.Demo {
		l.ok(srcConfig, cfg.path)
	}
	for f := range g.zones {
		l.ok(srcZone, f)
	}
	for _, p := range []string{cfg.Geo.CityDB, cfg.Geo.ASNDB} {
		if p != "" {
			l.ok(srcMMDB, p)
		}
	}
	if cfg.Routes.File != "" {
		l.ok(srcRoutes, cfg.Routes.File)
	}
}
