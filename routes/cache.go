package routes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	"github.com/godwit-dns/godwit/internal/atomicfile"
	"github.com/godwit-dns/godwit/internal/inputfile"
)

// The BGP table cache ([routes.bgp] cache_file) is the last published BGP
// table, written so that a restarted speaker answers with proximity at once
// instead of after its sessions have sent everything again. Its layout (all
// integers big endian, varints as encoding/binary's Uvarint):
//
//	header (44 bytes)
//	  magic       "GWBC"
//	  version     uint16 (cacheVersion)
//	  reserved    uint16 (0)
//	  fingerprint [16]byte: SHA-256 prefix of the peers (address, AS, datacenter)
//	  written     int64 Unix nanoseconds
//	  body length uint64
//	  body CRC    uint32: CRC-32C (Castagnoli) of the body
//	body
//	  peers   uvarint n, then n x (uvarint len, address bytes (4 or 16))
//	  sets    uvarint n, then n x (uvarint k, k x (uvarint peer index, uvarint path length))
//	  routes  uvarint n, then n x (byte tag, address bytes, uvarint set index)
//	          tag: prefix length for IPv4 (0-32), 33 + length for IPv6 (33-161);
//	          address bytes: the first ceil(length/8) bytes of the prefix
//
// A route costs 5 bytes for an IPv4 /24, 7-8 for an IPv6 /48: the reach
// lists (datacenter and AS-path length per peer) are interned as sets, as in
// the RIB, so a full table from several sites is a few MB.
const (
	cacheMagic   = "GWBC"
	cacheVersion = 1
	cacheHeader  = 44
	// maxCacheSize bounds the file read at start: 64 bytes a route would be
	// 16M routes, far beyond any full table.
	maxCacheSize = 1 << 30
)

// cacheInterval is the least time between two writes of the cache while
// the table keeps changing.
const cacheInterval = 30 * time.Second

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Errors of readCache, wrapped with the file name and details.
var (
	errCacheFormat      = errors.New("not a godwit BGP cache file")
	errCacheVersion     = errors.New("unsupported cache version")
	errCacheFingerprint = errors.New("written for other peers")
	errCacheCorrupt     = errors.New("corrupt")
)

// cacheFingerprint identifies the peer configuration a cache was written
// for: each peer's address, AS and datacenter, in any order.
func cacheFingerprint(peers []PeerConfig) [16]byte {
	lines := make([]string, 0, len(peers))
	for _, p := range peers {
		a, _ := netip.ParseAddr(p.Address)
		lines = append(lines, fmt.Sprintf("%s %d %s\n", a.Unmap(), p.ASN, p.Datacenter))
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return [16]byte(sum[:16])
}

// cacheData is a decoded cache: the routes of each peer.
type cacheData struct {
	written time.Time
	peers   []netip.Addr
	// sets are the reach sets: per entry, an index into peers and the path length.
	sets [][]cacheReach
	// routes is the encoded routes section, nroutes long, checked by
	// decodeCache; eachRoute decodes it.
	routes  []byte
	nroutes int
}

type cacheReach struct {
	peer    int
	pathLen int
}

// eachRoute calls fn with each route's prefix and set index, in file
// order. It stops at the first malformed route and returns its error; one
// that returns nil has called fn for every route and used every byte.
func (d *cacheData) eachRoute(fn func(p netip.Prefix, set int)) error {
	b := d.routes
	for i := range d.nroutes {
		if len(b) == 0 {
			return fmt.Errorf("route %d: truncated", i)
		}
		tag := int(b[0])
		bits, v6 := tag, tag > 32
		if v6 {
			bits -= 33
		}
		if bits > 128 {
			return fmt.Errorf("route %d: prefix tag %d", i, tag)
		}
		n := (bits + 7) / 8
		if len(b) < 1+n {
			return fmt.Errorf("route %d: truncated", i)
		}
		var a [16]byte
		copy(a[:], b[1:1+n])
		b = b[1+n:]
		set, m := binary.Uvarint(b)
		if m <= 0 {
			return fmt.Errorf("route %d: truncated or bad varint", i)
		}
		b = b[m:]
		if set >= uint64(len(d.sets)) {
			return fmt.Errorf("route %d: set %d of %d", i, set, len(d.sets))
		}
		var p netip.Prefix
		if v6 {
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits)
		} else {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), bits)
		}
		if !p.IsValid() || p.Masked() != p {
			return fmt.Errorf("route %d: prefix %s is not canonical", i, p)
		}
		fn(p, int(set))
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the routes", len(b))
	}
	return nil
}

// encodeCache writes t (a one-layer table published by the speaker) as a
// cache file's bytes. Reach entries whose source is not one of peers (a
// peer removed since) are left out; srcPeer maps a Reach.Source to its peer.
func encodeCache(t *Table, peers []PeerConfig, srcPeer map[string]netip.Addr, now time.Time) []byte {
	addrs := make([]netip.Addr, 0, len(peers))
	index := make(map[netip.Addr]int, len(peers))
	for _, p := range peers {
		a := netip.MustParseAddr(p.Address).Unmap()
		if _, ok := index[a]; !ok {
			index[a] = len(addrs)
			addrs = append(addrs, a)
		}
	}
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(addrs)))
	for _, a := range addrs {
		b := a.AsSlice()
		body = binary.AppendUvarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	// Sets are interned by their encoding; the reach slices of a published
	// table are shared between prefixes, so most lookups hit.
	setID := make(map[string]int)
	var sets []byte
	var routes []byte
	if t != nil {
		routes = make([]byte, 0, 6*t.n4+9*t.n6)
	}
	nroutes := 0
	var key []byte
	if t != nil && t.a != nil {
		// Published reach slices are shared per interned set: remember
		// each one's set by its first element and length.
		type shared struct {
			first *Reach
			n     int
		}
		byPtr := make(map[shared]int)
		for p, m := range t.a.All() {
			if len(m.Reach) == 0 {
				continue
			}
			id, ok := byPtr[shared{&m.Reach[0], len(m.Reach)}]
			if ok {
				if id >= 0 {
					routes = appendRoute(routes, p, id)
					nroutes++
				}
				continue
			}
			key = key[:0]
			k := 0
			for _, r := range m.Reach {
				a, ok := srcPeer[r.Source]
				if !ok {
					continue
				}
				i, ok := index[a]
				if !ok {
					continue
				}
				key = binary.AppendUvarint(key, uint64(i))
				key = binary.AppendUvarint(key, uint64(min(max(r.PathLen, 0), 0xffff)))
				k++
			}
			if len(key) == 0 {
				byPtr[shared{&m.Reach[0], len(m.Reach)}] = -1
				continue
			}
			id, ok = setID[string(key)]
			if !ok {
				id = len(setID)
				setID[string(key)] = id
				sets = binary.AppendUvarint(sets, uint64(k))
				sets = append(sets, key...)
			}
			byPtr[shared{&m.Reach[0], len(m.Reach)}] = id
			routes = appendRoute(routes, p, id)
			nroutes++
		}
	}
	body = binary.AppendUvarint(body, uint64(len(setID)))
	body = append(body, sets...)
	body = binary.AppendUvarint(body, uint64(nroutes))
	body = append(body, routes...)

	out := make([]byte, cacheHeader, cacheHeader+len(body))
	copy(out, cacheMagic)
	binary.BigEndian.PutUint16(out[4:], cacheVersion)
	fp := cacheFingerprint(peers)
	copy(out[8:24], fp[:])
	binary.BigEndian.PutUint64(out[24:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint64(out[32:], uint64(len(body)))
	binary.BigEndian.PutUint32(out[40:], crc32c(body))
	return append(out, body...)
}

// appendRoute appends one route's encoding: tag, address bytes, set.
func appendRoute(b []byte, p netip.Prefix, set int) []byte {
	bits := p.Bits()
	tag := byte(bits)
	if p.Addr().Is6() {
		tag = byte(33 + bits)
	}
	b = append(b, tag)
	if p.Addr().Is4() {
		a := p.Addr().As4()
		b = append(b, a[:(bits+7)/8]...)
	} else {
		a := p.Addr().As16()
		b = append(b, a[:(bits+7)/8]...)
	}
	return binary.AppendUvarint(b, uint64(set))
}

// decodeCache parses a cache file's bytes written for peers. It never
// panics on any input: a fuzz target holds it to that.
func decodeCache(data []byte, peers []PeerConfig) (*cacheData, error) {
	if len(data) < cacheHeader || string(data[:4]) != cacheMagic {
		return nil, errCacheFormat
	}
	if v := binary.BigEndian.Uint16(data[4:]); v != cacheVersion {
		return nil, fmt.Errorf("%w %d (this godwit reads %d)", errCacheVersion, v, cacheVersion)
	}
	if fp := cacheFingerprint(peers); !bytes.Equal(data[8:24], fp[:]) {
		return nil, errCacheFingerprint
	}
	written := time.Unix(0, int64(binary.BigEndian.Uint64(data[24:])))
	n := binary.BigEndian.Uint64(data[32:])
	body := data[cacheHeader:]
	if uint64(len(body)) != n {
		return nil, fmt.Errorf("%w: body is %d bytes, the header says %d (truncated?)", errCacheCorrupt, len(body), n)
	}
	if crc32c(body) != binary.BigEndian.Uint32(data[40:]) {
		return nil, fmt.Errorf("%w: CRC-32C mismatch", errCacheCorrupt)
	}
	d := &cacheData{written: written}
	r := cacheReader{b: body}
	np := r.count(1)
	for range np {
		l := r.uvarint()
		b := r.bytes(l)
		a, ok := netip.AddrFromSlice(b)
		if !ok && r.err == nil {
			r.err = fmt.Errorf("peer address of %d bytes", l)
		}
		d.peers = append(d.peers, a.Unmap())
	}
	ns := r.count(1)
	d.sets = make([][]cacheReach, 0, ns)
	for range ns {
		k := r.count(2)
		set := make([]cacheReach, 0, k)
		for range k {
			pi, pl := r.uvarint(), r.uvarint()
			if r.err == nil && (pi >= uint64(len(d.peers)) || pl > 0xffff) {
				r.err = fmt.Errorf("set entry (peer %d, path length %d) out of range", pi, pl)
			}
			set = append(set, cacheReach{peer: int(pi), pathLen: int(pl)})
		}
		d.sets = append(d.sets, set)
	}
	nr := r.count(2)
	if r.err == nil {
		d.nroutes, d.routes = int(nr), r.b
		r.err = d.eachRoute(func(netip.Prefix, int) {})
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errCacheCorrupt, r.err)
	}
	return d, nil
}

// cacheReader reads the body; the first error sticks and makes every later
// read return zero.
type cacheReader struct {
	b   []byte
	err error
}

func (r *cacheReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated or bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that take at least min bytes each, so that a
// corrupt count cannot make the reader allocate more than the file's size.
func (r *cacheReader) count(min int) uint64 {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(r.b))
		return 0
	}
	return n
}

func (r *cacheReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("truncated")
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// readCache reads and decodes the cache file at path written for peers.
// Every error names the file. A missing file is reported as fs.ErrNotExist.
func readCache(path string, peers []PeerConfig) (*cacheData, error) {
	data, err := inputfile.ReadFile(path, inputfile.Options{MaxBytes: maxCacheSize})
	if err != nil {
		return nil, err // names the file
	}
	d, err := decodeCache(data, peers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Stale reports the routes from the cache read at start.
func (s *Speaker) Stale() StaleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// loadCache reads cache_file into r as stale routes, one stale peerInfo per
// configured peer, and returns those peers by address (nil when nothing was
// loaded). A missing file is normal; any other problem is logged with the
// file's name and the speaker starts without the cache.
func (s *Speaker) loadCache(r *rib) map[netip.Addr]*peerInfo {
	if s.cachePath == "" {
		return nil
	}
	s.mu.Lock()
	peers := slices.Clone(s.cfg.Peers)
	timeout := s.cfg.staleTimeout()
	s.mu.Unlock()
	start := time.Now()
	d, err := readCache(s.cachePath, peers)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.log.Info("bgp table cache not there yet; starting without it", "file", s.cachePath)
			return nil
		}
		damaged := !errors.Is(err, errCacheFingerprint) && !errors.Is(err, errCacheVersion)
		lvl := slog.LevelError // damaged: worth a look
		if !damaged {
			lvl = slog.LevelWarn // the config or godwit changed: expected once
		}
		s.log.Log(context.Background(), lvl, "bgp table cache ignored", "file", s.cachePath, "err", err)
		s.mu.Lock()
		s.stale.CacheErr, s.stale.Damaged = err.Error(), damaged
		s.mu.Unlock()
		return nil
	}
	read := time.Since(start)
	cfgOf := make(map[netip.Addr]PeerConfig, len(peers))
	for _, p := range peers {
		cfgOf[netip.MustParseAddr(p.Address).Unmap()] = p
	}
	staleOf := make(map[netip.Addr]*peerInfo)
	pis := make([]*peerInfo, len(d.peers))
	for i, a := range d.peers {
		if pc, ok := cfgOf[a]; ok && staleOf[a] == nil {
			pis[i] = &peerInfo{addr: netip.MustParseAddr(pc.Address), cfg: pc, src: staleSource(netip.MustParseAddr(pc.Address)), stale: true}
			staleOf[a] = pis[i]
		}
	}
	n, err := r.loadCached(d, pis)
	if err != nil {
		err = fmt.Errorf("%s: %w", s.cachePath, err)
		s.log.Error("bgp table cache ignored", "file", s.cachePath, "err", err)
		s.mu.Lock()
		s.stale.CacheErr, s.stale.Damaged = err.Error(), true
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	s.stale = StaleState{Loaded: n, Written: d.written, Until: start.Add(timeout)}
	s.mu.Unlock()
	s.log.Info("bgp table cache loaded; its routes are stale until each peer sends End-of-RIB",
		"file", s.cachePath, "routes", n, "written", d.written.Format(time.RFC3339), "read", read, "took", time.Since(start),
		"stale_until", start.Add(timeout).Format(time.RFC3339))
	if n == 0 {
		return nil
	}
	return staleOf
}

// startCacheWriter starts the goroutine that writes cache_file at most
// every cacheInterval while tables are published.
func (s *Speaker) startCacheWriter() {
	if s.cachePath == "" {
		close(s.cacheDone)
		return
	}
	go func() {
		defer close(s.cacheDone)
		var last time.Time
		for {
			select {
			case <-s.cacheKick:
			case <-s.cacheStop:
				return
			}
			if wait := cacheInterval - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-s.cacheStop:
					return
				}
			}
			if s.savedSeq.Load() != s.pubSeq.Load() {
				s.saveCache()
				last = time.Now()
			}
		}
	}()
}

// stopCacheWriter ends the writer and writes the last table if the file
// does not hold it yet. The speaker's run goroutine must have ended.
func (s *Speaker) stopCacheWriter() {
	s.stopOnce.Do(func() {
		close(s.cacheStop)
		<-s.cacheDone
		if s.cachePath != "" && s.savedSeq.Load() != s.pubSeq.Load() {
			s.saveCache()
		}
	})
}

// saveCache writes the current table to cache_file.
func (s *Speaker) saveCache() {
	seq := s.pubSeq.Load()
	t := s.cur.Load()
	s.mu.Lock()
	peers := slices.Clone(s.cfg.Peers)
	s.mu.Unlock()
	start := time.Now()
	data := encodeCache(t, peers, cacheSources(peers), start)
	if err := atomicfile.Write(s.cachePath, data); err != nil {
		s.log.Warn("bgp table cache not written", "file", s.cachePath, "err", err)
		return
	}
	s.savedSeq.Store(seq)
	v4, v6 := t.Len()
	s.log.Debug("bgp table cache written", "file", s.cachePath, "bytes", len(data), "prefixes", v4+v6, "took", time.Since(start))
}

// WriteCache writes t as the BGP table cache of cfg at path, the file a
// speaker with cfg reads at start. t is a one-layer table whose reach
// sources are "bgp <peer address>" (Speaker.Table, or NewTable with such
// sources); entries from other sources are left out. It is for tools and
// tests: a running speaker writes its own cache.
func WriteCache(path string, cfg BGPConfig, t *Table) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("routes.bgp: %w", err)
	}
	return atomicfile.Write(path, encodeCache(t, cfg.Peers, cacheSources(cfg.Peers), time.Now()))
}

// cacheSources maps the reach sources of peers' routes, live and stale, to
// the peer's address.
func cacheSources(peers []PeerConfig) map[string]netip.Addr {
	src := make(map[string]netip.Addr, 2*len(peers))
	for _, p := range peers {
		a := netip.MustParseAddr(p.Address)
		src["bgp "+a.String()] = a.Unmap()
		src[staleSource(a)] = a.Unmap()
	}
	return src
}

// loadCached fills an empty RIB (newRIB) with a decoded cache's routes, the cache's
// peer i as pis[i] (nil: left out), and returns how many routes (peer and
// prefix) it loaded. A prefix that comes twice is an error that leaves r
// empty. Each of the cache's sets is interned once and each
// prefix costs one map entry, so that a full table loads in a fraction of
// the time that one update per route takes. Nothing is marked dirty: the
// table is built here and the next publish returns it.
func (r *rib) loadCached(d *cacheData, pis []*peerInfo) (int, error) {
	// Slots first: slot() would hand out the same free slot again until
	// routes are counted in it.
	slotOf := make(map[*peerInfo]int)
	for _, pi := range pis {
		if _, ok := slotOf[pi]; pi != nil && !ok && len(r.slots) < maxSlots {
			slotOf[pi] = len(r.slots)
			r.slots = append(r.slots, pi)
			r.nslot = append(r.nslot, 0)
		}
	}
	ids := make([]int64, len(d.sets)) // the RIB's set for each cache set; -1: none
	for i, set := range d.sets {
		var k []byte
		for _, re := range set {
			sl, ok := slotOf[pis[re.peer]]
			if !ok {
				continue
			}
			j := 0
			for j < len(k) && k[j] < byte(sl) {
				j += 3
			}
			if j < len(k) && k[j] == byte(sl) {
				continue // one entry per peer
			}
			pl := uint16(min(max(re.pathLen, 0), 0xffff))
			k = slices.Insert(k, j, byte(sl), byte(pl>>8), byte(pl))
		}
		ids[i] = -1
		if len(k) > 0 {
			ids[i] = int64(r.intern(k))
		}
	}
	r.paths.reserve(d.nroutes)
	uses := make([]int, len(d.sets))
	// The trie is built here too, in the file's order, which is the order
	// of the trie it was written from: each node's entries come in
	// ascending order and are appended, not inserted in the middle, which
	// makes this several times faster than publish's rebuild in map order.
	t := new(bart.Table[Match])
	dup := netip.Prefix{}
	_ = d.eachRoute(func(p netip.Prefix, set int) { // checked by decodeCache
		if ids[set] < 0 || dup.IsValid() {
			return
		}
		id := uint32(ids[set])
		n := t.Size()
		t.Insert(p, Match{Prefix: p, Reach: r.sets[id].reach})
		if t.Size() == n { // our writer never writes a prefix twice
			dup = p
			return
		}
		r.paths.put(keyOf(p), id)
		uses[set]++
	})
	if dup.IsValid() {
		*r = *newRIB()
		return 0, fmt.Errorf("%w: prefix %s twice", errCacheCorrupt, dup)
	}
	r.tbl, r.idx, r.unpublished = t, buildIndex(t), true
	n := 0
	for i, u := range uses {
		if u == 0 {
			continue
		}
		key := r.sets[ids[i]].key
		for j := 0; j < len(key); j += 3 {
			sl := key[j]
			r.nslot[sl] += u
			r.counts[r.slots[sl].addr] += u
			n += u
		}
	}
	return n, nil
}

// ReadCache reads the BGP table cache of cfg at path as a one-layer table
// whose routes are all marked stale (Reach.Source "bgp <peer>, stale from
// cache"), and the time it was written: what a speaker with cfg would
// answer from right after starting. It is for offline tools (godwit
// explain); errors name the file.
func ReadCache(path string, cfg BGPConfig) (*Table, time.Time, error) {
	d, err := readCache(path, cfg.Peers)
	if err != nil {
		return nil, time.Time{}, err
	}
	cfgOf := make(map[netip.Addr]PeerConfig, len(cfg.Peers))
	for _, p := range cfg.Peers {
		cfgOf[netip.MustParseAddr(p.Address).Unmap()] = p
	}
	pis := make([]*peerInfo, len(d.peers))
	for i, a := range d.peers {
		if pc, ok := cfgOf[a]; ok {
			pa := netip.MustParseAddr(pc.Address)
			pis[i] = &peerInfo{addr: pa, cfg: pc, src: staleSource(pa), stale: true}
		}
	}
	r := newRIB()
	if _, err := r.loadCached(d, pis); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return r.publish(), d.written, nil
}
