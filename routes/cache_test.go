package routes

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/atomicfile"
	"github.com/godwit-dns/godwit/internal/testsupport"
)

// testSpeaker runs a speaker's RIB goroutine and cache writer without any
// BGP session: the test hands it events as sessions would.
type testSpeaker struct {
	*Speaker
	ctx       context.Context
	published chan struct{}
	stopped   bool
}

func startTestSpeaker(t *testing.T, cfg BGPConfig) *testSpeaker {
	t.Helper()
	ts := &testSpeaker{published: make(chan struct{}, 1000)}
	sp, err := NewSpeaker(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})), func() {
		ts.published <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Speaker = sp
	sp.deb = debounce{quiet: time.Millisecond, maxDelay: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	ts.ctx = ctx
	sp.cancel, sp.done = cancel, make(chan struct{})
	for _, p := range cfg.Peers {
		a := netip.MustParseAddr(p.Address)
		sp.peers[a] = &peerInfo{addr: a, cfg: p, src: "bgp " + a.String()}
	}
	sp.startCacheWriter()
	go sp.run(ctx)
	t.Cleanup(ts.stop)
	return ts
}

// stop ends the speaker as Stop does: RIB goroutine first, then the writer
// (which writes the last table).
func (ts *testSpeaker) stop() {
	if ts.stopped {
		return
	}
	ts.stopped = true
	ts.cancel()
	<-ts.done
	ts.stopCacheWriter()
}

// feed sends events and waits until a table with them is published.
func (ts *testSpeaker) feed(t *testing.T, evs ...event) {
	t.Helper()
	for len(ts.published) > 0 {
		<-ts.published
	}
	ts.send(ts.ctx, evs)
	select {
	case <-ts.published:
	case <-time.After(5 * time.Second):
		t.Fatal("no table published")
	}
}

// tableString lists every prefix of t with its reach, sorted, without sources.
func tableString(t *Table) string {
	var lines []string
	for m := range t.All() {
		s := m.Prefix.String()
		for _, r := range m.Reach {
			s += fmt.Sprintf(" %s/%d", r.Datacenter, r.PathLen)
		}
		lines = append(lines, s)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

var (
	cacheAMS = netip.MustParseAddr("192.0.2.1")
	cacheIAD = netip.MustParseAddr("2001:db8::2")
	cacheSIN = netip.MustParseAddr("192.0.2.3")
)

func cacheConfig(path string) BGPConfig {
	return BGPConfig{ASN: 65000, RouterID: "192.0.2.254", CacheFile: path, Peers: []PeerConfig{
		{Address: cacheAMS.String(), ASN: 65001, Datacenter: "ams"},
		{Address: cacheIAD.String(), ASN: 65002, Datacenter: "iad"},
		{Address: cacheSIN.String(), ASN: 65003, Datacenter: "sin"},
	}}
}

func up(a netip.Addr, pfx string, pathLen int) event {
	return event{peer: a, prefix: netip.MustParsePrefix(pfx), pathLen: pathLen}
}

// cacheFeed is a table with every shape of prefix the format has to carry:
// /0, odd lengths, host routes, both families, shared and unshared sets,
// two peers of one prefix, a path length over 255.
var cacheFeed = []event{
	up(cacheAMS, "0.0.0.0/0", 5),
	up(cacheAMS, "10.0.0.0/7", 1), up(cacheIAD, "10.0.0.0/7", 2),
	up(cacheAMS, "198.51.100.0/24", 1), up(cacheIAD, "198.51.100.0/24", 2), up(cacheSIN, "198.51.100.0/24", 3),
	up(cacheAMS, "203.0.113.7/32", 300),
	up(cacheIAD, "::/0", 4),
	up(cacheIAD, "2001:db8:1::/48", 1), up(cacheSIN, "2001:db8:1::/48", 1),
	up(cacheSIN, "2001:db8:2:3:4:5:6:7/128", 2),
	up(cacheSIN, "2001:db8:80::/41", 0),
}

// TestCacheRoundTrip: a table written at stop is read at the next start as
// the same table, marked stale; each peer's End-of-RIB ends its stale
// routes, a live route replaces the cached one, a peer going down keeps its
// stale routes, and stale_timeout drops what is left.
func TestCacheRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bgp.cache")
	cfg := cacheConfig(path)
	a := startTestSpeaker(t, cfg)
	a.feed(t, cacheFeed...)
	want := tableString(a.Table())
	if st := a.Stale(); st.Stale || st.Loaded != 0 {
		t.Errorf("first start, no cache: %+v", st)
	}
	a.stop()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no cache written at stop: %v", err)
	}

	cfg.StaleTimeout = Duration(time.Hour)
	b := startTestSpeaker(t, cfg)
	select {
	case <-b.published:
	case <-time.After(5 * time.Second):
		t.Fatal("cached table not published at start")
	}
	if got := tableString(b.Table()); got != want {
		t.Fatalf("table from the cache:\n%s\nwant\n%s", got, want)
	}
	st := b.Stale()
	if !st.Stale || st.Routes != len(cacheFeed) || st.Loaded != len(cacheFeed) || st.CacheErr != "" {
		t.Errorf("stale state %+v, want %d stale routes", st, len(cacheFeed))
	}
	if d := time.Until(st.Until); d < 59*time.Minute || d > time.Hour {
		t.Errorf("stale until %v from now, want stale_timeout (1h)", d)
	}
	m, _ := b.Table().Lookup(netip.MustParseAddr("203.0.113.7"))
	if len(m.Reach) != 1 || m.Reach[0].Source != "bgp 192.0.2.1, stale from cache" {
		t.Errorf("stale route's reach %+v, want the stale source", m.Reach)
	}
	staleOf := func() string {
		var s []string
		for _, p := range b.Peers() {
			s = append(s, fmt.Sprintf("%s:%d/%d", p.Datacenter, p.Stale, p.Prefixes))
		}
		return strings.Join(s, " ")
	}
	if got := staleOf(); got != "ams:4/4 iad:4/4 sin:4/4" {
		t.Errorf("per-peer stale/prefixes %s", got)
	}

	// ams comes back with one route changed and one gone: the live route
	// replaces the cached one at once; End-of-RIB drops the rest.
	b.feed(t, event{peer: cacheAMS, up: true}, up(cacheAMS, "198.51.100.0/24", 7))
	if got := staleOf(); got != "ams:3/4 iad:4/4 sin:4/4" {
		t.Errorf("after one live route: %s", got)
	}
	m, _ = b.Table().Lookup(netip.MustParseAddr("198.51.100.1"))
	if got := fmt.Sprint(m.Reach); !strings.Contains(got, "{ams 7 bgp 192.0.2.1}") {
		t.Errorf("live route did not replace the cached one: %s", got)
	}
	b.feed(t, event{peer: cacheAMS, eor: true})
	if got := staleOf(); got != "ams:0/1 iad:4/4 sin:4/4" {
		t.Errorf("after ams End-of-RIB: %s", got)
	}
	if _, ok := b.Table().Lookup(netip.MustParseAddr("203.0.113.7")); ok {
		t.Error("ams's route that it did not send again is still in the table after End-of-RIB")
	}
	if st := b.Stale(); !st.Stale || st.Routes != 8 {
		t.Errorf("stale state after one peer's End-of-RIB: %+v", st)
	}

	// iad's session drops before End-of-RIB: its live routes go, its
	// cached ones stay (it may come back within stale_timeout).
	b.feed(t, event{peer: cacheIAD, up: true}, up(cacheIAD, "192.0.2.0/24", 1))
	b.feed(t, event{peer: cacheIAD, down: true})
	if got := staleOf(); got != "ams:0/1 iad:4/4 sin:4/4" {
		t.Errorf("after iad down: %s", got)
	}
	b.stop()

	// Third start, stale_timeout short: the table written at b's stop
	// (stale routes included) is read, and dropped once the timeout passes.
	cfg.StaleTimeout = Duration(200 * time.Millisecond)
	c := startTestSpeaker(t, cfg)
	<-c.published
	if st := c.Stale(); st.Routes != 9 {
		t.Errorf("third start: %+v, want 9 stale routes", st)
	}
	select {
	case <-c.published:
	case <-time.After(5 * time.Second):
		t.Fatal("stale routes not dropped after stale_timeout")
	}
	if got := tableString(c.Table()); got != "" {
		t.Errorf("after stale_timeout the table is\n%s\nwant it empty (every route came from the cache)", got)
	}
	if st := c.Stale(); st.Stale || st.Routes != 0 {
		t.Errorf("stale state after the timeout: %+v", st)
	}
}

// TestCacheRejected: a file that is truncated, altered, of another version,
// for other peers, not a cache at all, or not a regular file is ignored with
// an error naming it, and the speaker starts empty.
func TestCacheRejected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bgp.cache")
	cfg := cacheConfig(path)
	a := startTestSpeaker(t, cfg)
	a.feed(t, cacheFeed...)
	a.stop()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCache(good, cfg.Peers); err != nil {
		t.Fatalf("good cache: %v", err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	other := cfg
	other.Peers = slices.Clone(cfg.Peers)
	other.Peers[2].Datacenter = "fra"

	cases := []struct {
		name string
		data []byte
		cfg  BGPConfig
		want error
	}{
		{"empty", nil, cfg, errCacheFormat},
		{"header only", good[:cacheHeader-1], cfg, errCacheFormat},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), cfg, errCacheFormat},
		{"truncated", good[:len(good)-3], cfg, errCacheCorrupt},
		{"longer", append(bytes.Clone(good), 0), cfg, errCacheCorrupt},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }), cfg, errCacheCorrupt},
		{"version 2", mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 2); return b }), cfg, errCacheVersion},
		{"other peers", good, other, errCacheFingerprint},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readCache(path, c.cfg.Peers)
			if !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("readCache: %v, want %v naming the file", err, c.want)
			}
			b := startTestSpeaker(t, c.cfg)
			<-b.cacheRead
			st := b.Stale()
			damaged := c.want != errCacheFingerprint && c.want != errCacheVersion
			if st.Stale || st.Loaded != 0 || !strings.Contains(st.CacheErr, path) || st.Damaged != damaged {
				t.Errorf("stale state %+v, want no routes and the error (damaged %v)", st, damaged)
			}
			if v4, v6 := b.Table().Len(); v4+v6 != 0 {
				t.Errorf("table has %d prefixes", v4+v6)
			}
		})
	}
	// Every truncation is caught by the length or the CRC.
	for n := range len(good) {
		if _, err := decodeCache(good[:n], cfg.Peers); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}

	// A prefix twice (only a hand-made file with a good CRC has that)
	// leaves the RIB empty rather than miscounted.
	p := netip.MustParsePrefix("198.51.100.0/24")
	d := &cacheData{peers: []netip.Addr{cacheAMS}, sets: [][]cacheReach{{{peer: 0, pathLen: 1}}},
		routes: appendRoute(appendRoute(nil, p, 0), p, 0), nroutes: 2}
	r := newRIB()
	if n, err := r.loadCached(d, []*peerInfo{{addr: cacheAMS, src: staleSource(cacheAMS), stale: true}}); !errors.Is(err, errCacheCorrupt) || n != 0 || r.paths.len() != 0 || r.staleCount() != 0 {
		t.Errorf("prefix twice: %d routes, %v, RIB has %d", n, err, r.paths.len())
	}

	t.Run("fifo", func(t *testing.T) {
		fifo := filepath.Join(dir, "fifo.cache")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skip("mkfifo:", err)
		}
		c := cfg
		c.CacheFile = fifo
		done := make(chan struct{})
		go func() {
			defer close(done)
			b := startTestSpeaker(t, c)
			<-b.cacheRead
			if st := b.Stale(); !strings.Contains(st.CacheErr, "not a regular file") {
				t.Errorf("FIFO as cache: %+v", st)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a FIFO as cache_file blocks start-up")
		}
	})

	t.Run("missing", func(t *testing.T) {
		c := cfg
		c.CacheFile = filepath.Join(dir, "none", "bgp.cache")
		b := startTestSpeaker(t, c)
		<-b.cacheRead
		if st := b.Stale(); st.CacheErr != "" || st.Loaded != 0 {
			t.Errorf("missing cache: %+v, want no error", st)
		}
	})
}

// TestCacheAtomicWrite: the file is replaced by rename, never rewritten in
// place (a reader holding the old file keeps reading it whole), and no
// temporary file is left behind, whether the write succeeds or fails.
func TestCacheAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bgp.cache")
	if err := atomicfile.Write(path, []byte("old contents")); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := atomicfile.Write(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := old.ReadAt(b, 0)
	if got := string(b[:n]); got != "old contents" {
		t.Errorf("the old file, still open, reads %q: it was written in place", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("file reads %q, want the new contents", got)
	}
	// A write that cannot complete (the target is a directory) leaves the
	// directory as it was.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(sub, []byte("x")); err == nil {
		t.Error("writing over a directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "bgp.cache sub" {
		t.Errorf("directory holds %q, want no temporary files", got)
	}
}

// FuzzCache: the reader never panics, and what it accepts is in range.
func FuzzCache(f *testing.F) {
	peers := cacheConfig("").Peers
	r := newRIB()
	pis := map[netip.Addr]*peerInfo{}
	for _, p := range peers {
		a := netip.MustParseAddr(p.Address)
		pis[a] = &peerInfo{addr: a, cfg: p, src: "bgp " + a.String()}
	}
	for _, ev := range cacheFeed {
		r.update(pis[ev.peer], ev.prefix, ev.pathLen)
	}
	src := map[string]netip.Addr{}
	for a := range pis {
		src["bgp "+a.String()] = a
	}
	good := encodeCache(r.publish(), peers, src, time.Unix(1, 0))
	f.Add(good)
	f.Add(good[:60])
	f.Add(encodeCache(nil, peers, src, time.Unix(1, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Most mutations break the CRC; fix it up so that the body parser
		// is exercised too.
		if len(data) >= cacheHeader && string(data[:4]) == cacheMagic {
			fp := cacheFingerprint(peers)
			copy(data[8:24], fp[:])
			binary.BigEndian.PutUint64(data[32:], uint64(len(data)-cacheHeader))
			binary.BigEndian.PutUint32(data[40:], crc32c(data[cacheHeader:]))
		}
		d, err := decodeCache(data, peers)
		if err != nil {
			return
		}
		if err := d.eachRoute(func(p netip.Prefix, set int) {
			if set < 0 || set >= len(d.sets) || !p.IsValid() || p.Masked() != p {
				t.Fatalf("accepted route %s set %d", p, set)
			}
		}); err != nil {
			t.Fatalf("decodeCache accepted routes that eachRoute refuses: %v", err)
		}
		r := newRIB()
		pis := make([]*peerInfo, len(d.peers))
		for i, a := range d.peers {
			pis[i] = &peerInfo{addr: a, src: staleSource(a), stale: true}
		}
		n, err := r.loadCached(d, pis)
		if err != nil {
			if !errors.Is(err, errCacheCorrupt) {
				t.Fatalf("loadCached: %v", err)
			}
			return
		}
		if total := r.staleCount(); total != n {
			t.Fatalf("loaded %d routes, slots count %d", n, total)
		}
		r.publish()
		for _, s := range d.sets {
			for _, re := range s {
				if re.peer < 0 || re.peer >= len(d.peers) || re.pathLen > 0xffff {
					t.Fatalf("accepted set entry %+v", re)
				}
			}
		}
	})
}

// TestCacheWithBird: Godwit learns routes from BIRD and stops (writing the
// cache); the router's routes change meanwhile; restarted with the cache,
// Godwit answers from the old table at once, marked stale, and when the
// session has sent End-of-RIB the table is the router's new one and no
// longer stale, long before stale_timeout.
func TestCacheWithBird(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird (BIRD 2) is not installed; `apt-get install bird2` (make deps does) to run this test")
	}
	for _, impl := range []string{ImplNative, ImplGobgp} {
		t.Run(impl, func(t *testing.T) { testCacheWithBird(t, impl) })
	}
}

func testCacheWithBird(t *testing.T, impl string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	ourPort := testsupport.FreePort(t, "127.0.0.1") // BIRD's neighbor port; unused as BIRD is passive
	port1, port2 := testsupport.FreePort(t, "127.0.0.2"), testsupport.FreePort(t, "127.0.0.2")
	cache := filepath.Join(t.TempDir(), "bgp.cache")
	cfg := func(port int) BGPConfig {
		return BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Implementation: impl, CacheFile: cache,
			StaleTimeout: Duration(time.Hour), Peers: []PeerConfig{
				{Address: "127.0.0.2", ASN: 65001, Port: uint16(port), Datacenter: "ams", LocalAddress: "127.0.0.1"},
			}}
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	addrs := []string{"198.51.100.1", "203.0.113.1", "2001:db8:100::1", "2001:db8:200::1"}

	bird1 := startBird(t, birdPeer{name: "ams1", addr: "127.0.0.2", asn: 65001, passive: true,
		routes4: map[string]int{"198.51.100.0/24": 2, "203.0.113.0/24": 0},
		routes6: map[string]int{"2001:db8:100::/48": 0}}, port1, ourPort)
	sp1, err := NewSpeaker(cfg(port1), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	old := strings.Join([]string{
		"198.51.100.1 -> 198.51.100.0/24 ams/3",
		"203.0.113.1 -> 203.0.113.0/24 ams/1",
		"2001:db8:100::1 -> 2001:db8:100::/48 ams/1",
		"2001:db8:200::1 -> none",
	}, "\n")
	waitFor(t, "routes before the restart", 20*time.Second, old, func() string { return reachString(sp1.Table(), addrs...) })
	sp1.Stop()
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache after Stop: %v", err)
	}
	_ = bird1.Process.Kill()

	// The router now has one route changed, one gone, one new.
	startBird(t, birdPeer{name: "ams2", addr: "127.0.0.2", asn: 65001, passive: true,
		routes4: map[string]int{"198.51.100.0/24": 0},
		routes6: map[string]int{"2001:db8:100::/48": 0, "2001:db8:200::/48": 1}}, port2, ourPort)
	sp2, err := NewSpeaker(cfg(port2), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := sp2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp2.Stop)
	<-sp2.cacheRead
	if got := reachString(sp2.Table(), addrs...); got != old {
		t.Fatalf("at start, with the cache: got\n%s\nwant the table before the restart\n%s", got, old)
	}
	if st := sp2.Stale(); st.Loaded != 3 || st.Until.Before(t0.Add(59*time.Minute)) {
		t.Errorf("stale state at start %+v", st)
	}
	t.Logf("cached table answering %v after Start", time.Since(t0).Round(time.Microsecond))
	waitFor(t, "the router's table, not stale, after End-of-RIB", 20*time.Second, strings.Join([]string{
		"198.51.100.1 -> 198.51.100.0/24 ams/1",
		"203.0.113.1 -> none",
		"2001:db8:100::1 -> 2001:db8:100::/48 ams/1",
		"2001:db8:200::1 -> 2001:db8:200::/48 ams/2",
		"stale false 0, peer stale 0",
	}, "\n"), func() string {
		st := sp2.Stale()
		return reachString(sp2.Table(), addrs...) + fmt.Sprintf("\nstale %v %d, peer stale %d", st.Stale, st.Routes, sp2.Peers()[0].Stale)
	})
	t.Logf("in sync %v after Start", time.Since(t0).Round(time.Millisecond))
	for m := range sp2.Table().All() {
		for _, r := range m.Reach {
			if r.Source != "bgp 127.0.0.2" {
				t.Errorf("%s: source %q after End-of-RIB", m.Prefix, r.Source)
			}
		}
	}
}

// BenchmarkCacheLarge: the cache of a full table from three sites (1.0M
// IPv4 and 0.2M IPv6 prefixes from each, path lengths 1-6): its size, the
// time to encode and write it, to read and check it, to load it into the
// RIB (read included) and to publish the table a restarted speaker
// answers from. Run with
// -benchtime=1x; CACHE_BENCH_SCALE=0.1 runs a tenth of the size.
func BenchmarkCacheLarge(b *testing.B) {
	scale := 1.0
	if s := os.Getenv("CACHE_BENCH_SCALE"); s != "" {
		fmt.Sscan(s, &scale)
	}
	prefixes := randomPrefixes(int(1_000_000*scale), int(200_000*scale))
	path := filepath.Join(b.TempDir(), "bgp.cache")
	if p := os.Getenv("CACHE_BENCH_FILE"); p != "" {
		path = p // kept for BenchmarkCacheLoad
	}
	cfg := cacheConfig(path)
	r := newRIB()
	for k, p := range cfg.Peers {
		a := netip.MustParseAddr(p.Address)
		pi := &peerInfo{addr: a, cfg: p, src: "bgp " + a.String()}
		for i, pfx := range prefixes {
			r.update(pi, pfx, 1+(i*7+k*3)%6)
		}
	}
	tbl := r.publish()
	want := tableString(tbl)
	var size int
	var enc, write, read, load, pub time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		data := encodeCache(tbl, cfg.Peers, cacheSources(cfg.Peers), t0)
		t1 := time.Now()
		if err := atomicfile.Write(path, data); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := readCache(path, cfg.Peers); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		sp, err := NewSpeaker(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		r2 := newRIB()
		if len(sp.loadCache(r2)) != 3 {
			b.Fatal("cache not loaded")
		}
		t4 := time.Now()
		got := r2.publish()
		t5 := time.Now()
		size = len(data)
		enc, write, read, load, pub = enc+t1.Sub(t0), write+t2.Sub(t1), read+t3.Sub(t2), load+t4.Sub(t3), pub+t5.Sub(t4)
		if b.N == 1 && tableString(got) != want {
			b.Fatal("the table loaded from the cache differs")
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(enc.Milliseconds())/n, "encode-ms")
	b.ReportMetric(float64(write.Milliseconds())/n, "write-ms")
	b.ReportMetric(float64(read.Milliseconds())/n, "read-ms")
	b.ReportMetric(float64(load.Milliseconds())/n, "load-ms")
	b.ReportMetric(float64(pub.Milliseconds())/n, "publish-ms")
	b.Logf("%d prefixes x 3 peers: %d bytes (%.1f per prefix)", len(prefixes), size, float64(size)/float64(len(prefixes)))
}

// BenchmarkCacheLoad: what a restart costs, in a process that holds
// nothing else: read, check, load and publish the cache file that
// BenchmarkCacheLarge left at $CACHE_BENCH_FILE.
func BenchmarkCacheLoad(b *testing.B) {
	path := os.Getenv("CACHE_BENCH_FILE")
	if path == "" {
		b.Skip("set CACHE_BENCH_FILE to a cache written by BenchmarkCacheLarge")
	}
	cfg := cacheConfig(path)
	for range b.N {
		sp, err := NewSpeaker(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		r := newRIB()
		if len(sp.loadCache(r)) != 3 || r.publish() == nil {
			b.Fatal("cache not loaded")
		}
	}
}
