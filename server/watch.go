package server

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/godwit-dns/godwit/zones"
)

// Debounce of file events: a reload runs watchDebounce after the last
// event of a burst, and at most watchMaxDelay after its first, so that an
// editor's write-rename or a copy in several writes is read once, whole.
const (
	watchDebounce = 200 * time.Millisecond
	watchMaxDelay = time.Second
)

// watchPaths are the files a config names, as the watcher matches events
// against them. Directories are watched, not files: a file replaced by
// rename (editors, `mv new old`, the GeoLite2 updater) is a new inode that a
// watch on the old file would miss.
type watchPaths struct {
	config   string
	zonesDir string
	mmdb     []string
	routes   string
	state    string
	keysDir  string // [dnssec] keys_dir
}

func pathsOf(cfg *Config) watchPaths {
	p := watchPaths{
		config:   clean(cfg.path),
		zonesDir: clean(cfg.Zones.Dir),
		routes:   clean(cfg.Routes.File),
		state:    clean(cfg.Health.StateFile),
		keysDir:  clean(cfg.DNSSEC.KeysDir),
	}
	for _, f := range []string{cfg.Geo.CityDB, cfg.Geo.ASNDB} {
		if f != "" {
			p.mmdb = append(p.mmdb, clean(f))
		}
	}
	return p
}

func clean(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// dirs lists the directories to watch.
func (p watchPaths) dirs() map[string]bool {
	d := map[string]bool{}
	for _, f := range append([]string{p.config, p.routes, p.state}, p.mmdb...) {
		if f != "" {
			d[filepath.Dir(f)] = true
		}
	}
	if p.zonesDir != "" {
		d[p.zonesDir] = true
	}
	if p.keysDir != "" {
		d[p.keysDir] = true
	}
	return d
}

// classify adds what an event on file name changes to ch; it reports
// whether the event matters.
func (p watchPaths) classify(name string, ch *changes) bool {
	name = filepath.Clean(name)
	dir, base := filepath.Split(name)
	dir = filepath.Clean(dir)
	if base == "..data" {
		// Kubernetes swaps a ConfigMap or Secret volume by renaming the
		// ..data symlink: every file in that directory may have changed.
		return p.classifyDir(dir, ch)
	}
	hit := false
	switch name {
	case p.config:
		ch.config, hit = true, true
	case p.routes:
		ch.routes, hit = true, true
	case p.state:
		ch.state, hit = true, true
	}
	for _, m := range p.mmdb {
		if name == m {
			ch.mmdb, hit = true, true
		}
	}
	if dir == p.zonesDir && zones.IsZoneFileName(base) {
		ch.addZone(name)
		hit = true
	}
	if dir == p.keysDir && isKeyFile(base) {
		ch.keys, hit = true, true
	}
	return hit
}

func (p watchPaths) classifyDir(dir string, ch *changes) bool {
	hit := false
	in := func(f string) bool {
		ok := f != "" && filepath.Dir(f) == dir
		hit = hit || ok
		return ok
	}
	ch.config = ch.config || in(p.config)
	ch.routes = ch.routes || in(p.routes)
	ch.state = ch.state || in(p.state)
	for _, m := range p.mmdb {
		ch.mmdb = ch.mmdb || in(m)
	}
	if dir == p.zonesDir {
		ch.all, hit = true, true // every zone file may have changed
	}
	if dir == p.keysDir {
		ch.keys, hit = true, true
	}
	return hit
}

// watcher turns file events in the watched directories into debounced
// reloads.
type watcher struct {
	log      *slog.Logger
	fsw      *fsnotify.Watcher
	reload   func(changes) error
	debounce time.Duration
	maxDelay time.Duration

	mu    sync.Mutex
	paths watchPaths
	dirs  map[string]bool

	quit chan struct{}
	done chan struct{}
}

func newWatcher(log *slog.Logger, reload func(changes) error, debounce, maxDelay time.Duration) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{log: log, fsw: fsw, reload: reload, debounce: debounce, maxDelay: maxDelay,
		dirs: map[string]bool{}, quit: make(chan struct{}), done: make(chan struct{})}, nil
}

// setPaths watches the directories of p and stops watching the others.
// A directory that cannot be watched (missing, say) is logged and tried
// again on the next call.
func (w *watcher) setPaths(p watchPaths) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paths = p
	want := p.dirs()
	for d := range w.dirs {
		if !want[d] {
			if err := w.fsw.Remove(d); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
				w.log.Debug("unwatch", "dir", d, "err", err)
			}
			delete(w.dirs, d)
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fsw.Add(d); err != nil {
			w.log.Warn("cannot watch directory; its files reload on SIGHUP only", "dir", d, "err", err)
			continue
		}
		w.dirs[d] = true
		w.log.Debug("watching", "dir", d)
	}
}

func (w *watcher) currentPaths() watchPaths {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paths
}

// run collects events until quiet for the debounce time (or maxDelay
// after the first), then reloads what they touched. Reloads run on this
// goroutine, one at a time; events meanwhile wait in the queue.
func (w *watcher) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pending changes
	var first time.Time
	arm := func() {
		now := time.Now()
		if pending.empty() {
			first = now
		}
		timer.Reset(min(w.debounce, w.maxDelay-now.Sub(first)))
	}
	for {
		select {
		case <-w.quit:
			timer.Stop()
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			var ch changes
			if !w.currentPaths().classify(ev.Name, &ch) {
				continue
			}
			w.log.Debug("file event", "file", ev.Name, "op", ev.Op.String())
			arm()
			pending.merge(ch)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watcher", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				arm() // events were lost: re-read everything
				pending.all = true
			}
		case <-timer.C:
			ch := pending
			pending = changes{}
			_ = w.reload(ch) // failures are logged, counted and kept by the reloader
		}
	}
}

func (c *changes) merge(o changes) {
	c.all = c.all || o.all
	c.config = c.config || o.config
	c.mmdb = c.mmdb || o.mmdb
	c.routes = c.routes || o.routes
	c.state = c.state || o.state
	c.keys = c.keys || o.keys
	for f := range o.zones {
		c.addZone(f)
	}
}

// stop ends run and closes the fsnotify watcher.
func (w *watcher) stop() {
	select {
	case <-w.quit:
		return
	default:
	}
	close(w.quit)
	<-w.done
	_ = w.fsw.Close()
}
