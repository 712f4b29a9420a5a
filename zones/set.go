package zones

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"unsafe"

	mdns "github.com/miekg/dns"
)

// Set is the immutable snapshot of every loaded zone and service that
// Lookup answers from. Build a new one with NewSet on reload and publish
// it with an atomic.Pointer; nothing in a Set changes after NewSet.
type Set struct {
	zones map[string]*zoneData // by lower-case origin
	infos []ZoneInfo           // sorted by origin
}

// ZoneInfo describes one zone of a Set, for the status page.
type ZoneInfo struct {
	Origin  string `json:"origin"`
	Serial  uint32 `json:"serial"`
	File    string `json:"file"`
	Records int    `json:"records"`
}

// zoneData is a zone compiled for lookups.
type zoneData struct {
	info   ZoneInfo
	origin string
	nodes  nameIndex // every name that exists: owners, empty non-terminals, services
	negSOA []mdns.RR // the SOA with TTL min(TTL, MINIMUM) (RFC 2308 3, 5)
	negTTL uint32
	parent *zoneData // the next enclosing zone in the Set, nil if none
	alloc  nodeAlloc // where the nodes live
	xAlloc chunks[nodeExtra]
	rrBuf  chunks[mdns.RR] // where extras and glue live
	cuts   int             // delegation points
	// lastParent is the last name ensure made sure of as a parent.
	lastParent string

	records []mdns.RR   // the Zone's records, grouped: each RRset is a run
	sets    []rrset     // every node's RRsets, node by node
	extras  [][]mdns.RR // additional-section records; extras[0] is none
}

// node is one existing name in a zone. A large zone has one per name, so
// what few names need (CNAME, delegation, glue, wildcard parent, service)
// lives in x: a node is 32 bytes. (Its id, the creation order in the
// zone that the name index holds, is where nodeAlloc put it.)
type node struct {
	name   string     // lower-case
	x      *nodeExtra // nil unless the name needs one
	setOff uint32     // its RRsets: zoneData.sets[setOff:setOff+nsets]
	nsets  uint16     // in file order of first appearance
	cut    bool       // NS below the apex: a delegation point
}

// nodeExtra is what a node needs when it is a CNAME, a delegation point,
// below one, the parent of a wildcard or a service.
type nodeExtra struct {
	service *Service
	below   *node // the delegation point above this node, nil if none
	wild    *node // the "*.<name>" child, if any

	cname       []mdns.RR // the CNAME RRset (one record), nil if none
	cnameTarget []byte    // its target, lower-case, fully qualified; read-only

	cut *cutData // at a delegation point
}

// cutData is the referral a delegation point answers with.
type cutData struct {
	referral []mdns.RR // the NS RRset
	glue     []mdns.RR // A/AAAA of the NS targets in this zone
}

// rrset is the records of one type at a node and, for NS, MX and SRV, the
// addresses of their targets for the additional section: offsets into its
// zoneData rather than slices, 16 bytes instead of 56.
type rrset struct {
	off   uint32 // records: zoneData.records[off:off+n]
	n     uint32
	extra int32 // zoneData.extras[extra]
	typ   uint16
}

// setsOf returns the RRsets of n.
func (zd *zoneData) setsOf(n *node) []rrset {
	return zd.sets[n.setOff : n.setOff+uint32(n.nsets)]
}

// rrs returns the records of set (shared; appending copies).
func (zd *zoneData) rrs(set *rrset) []mdns.RR {
	return zd.records[set.off : set.off+set.n : set.off+set.n]
}

// get returns the records of type t at n and their additional-section
// addresses; rrs is nil when n has none.
func (zd *zoneData) get(n *node, t uint16) (rrs, extra []mdns.RR) {
	for i := n.setOff; i < n.setOff+uint32(n.nsets); i++ {
		if set := &zd.sets[i]; set.typ == t {
			return zd.rrs(set), zd.extras[set.extra]
		}
	}
	return nil, nil
}

// extra returns n.x, creating it.
func (zd *zoneData) extra(n *node) *nodeExtra {
	if n.x == nil {
		n.x = zd.xAlloc.add(&nodeExtra{})
	}
	return n.x
}

func (n *node) service() *Service {
	if n.x == nil {
		return nil
	}
	return n.x.service
}

func (n *node) below() *node {
	if n.x == nil {
		return nil
	}
	return n.x.below
}

func (n *node) wild() *node {
	if n.x == nil {
		return nil
	}
	return n.x.wild
}

func (n *node) cname() []mdns.RR {
	if n.x == nil {
		return nil
	}
	return n.x.cname
}

// nameIndex finds a zone's nodes by name: an open-addressing hash table
// (linear probing, at most 3/4 full) of node ids, 8 to 16 bytes a name where
// a map[string]*node costs about 40. A slot holds 32 bits of the name's
// hash beside the id, so that a probe reads a node only when the hash
// matches: at 3/4 full a name not in the table passes eight others on
// average, and reading each one's node was 15% of a large zone's start-up.
type nameIndex struct {
	seed  maphash.Seed
	slots []uint64 // hash<<32 | node id + 1; 0 is empty
	used  int
}

// init sizes the index for n names.
func (x *nameIndex) init(n int) {
	size := 16
	for size*3 < n*4 {
		size *= 2
	}
	x.seed = maphash.MakeSeed()
	x.slots = make([]uint64, size)
	x.used = 0
}

// node returns the node with the given id.
func (zd *zoneData) node(id int32) *node {
	return &zd.alloc.chunks[id/nodeChunk][id%nodeChunk]
}

// lookup returns the node for name (lower-case), nil if none. It does not
// allocate.
func (zd *zoneData) lookup(name []byte) *node {
	return zd.probe(maphash.Bytes(zd.nodes.seed, name), unsafe.String(unsafe.SliceData(name), len(name)))
}

// lookupString is lookup for a string.
func (zd *zoneData) lookupString(name string) *node {
	return zd.probe(maphash.String(zd.nodes.seed, name), name)
}

// probe returns the node for name, whose hash is h.
func (zd *zoneData) probe(h uint64, name string) *node {
	x := &zd.nodes
	mask := uint32(len(x.slots) - 1)
	for i := uint32(h) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return nil
		}
		if uint32(s>>32) == uint32(h) {
			if n := zd.node(int32(uint32(s)) - 1); n.name == name {
				return n
			}
		}
	}
}

// insert adds n, whose name is not in the index yet, with its id.
func (zd *zoneData) insert(n *node, id int32) {
	x := &zd.nodes
	if (x.used+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]uint64, 2*len(old))
		for _, s := range old {
			if s != 0 {
				x.put(s)
			}
		}
	}
	x.put(uint64(uint32(maphash.String(x.seed, n.name)))<<32 | uint64(id+1))
	x.used++
}

func (x *nameIndex) put(s uint64) {
	mask := uint32(len(x.slots) - 1)
	i := uint32(s>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = s
}

// nodeChunk is how many nodes nodeAlloc allocates at once.
const nodeChunk = 4096

// nodeAlloc hands out nodes from large chunks: one heap object per 4096
// names rather than one per name.
type nodeAlloc struct {
	chunks [][]node
}

// new returns a new node for name and its id.
func (a *nodeAlloc) new(name string) (*node, int32) {
	k := len(a.chunks) - 1
	if k < 0 || len(a.chunks[k]) == cap(a.chunks[k]) {
		a.chunks = append(a.chunks, make([]node, 0, nodeChunk))
		k++
	}
	c := a.chunks[k][:len(a.chunks[k])+1]
	a.chunks[k] = c
	n := &c[len(c)-1]
	n.name = name
	return n, int32(k*nodeChunk + len(c) - 1)
}

// each calls f for every node, in creation order.
func (a *nodeAlloc) each(f func(*node)) {
	for _, c := range a.chunks {
		for i := range c {
			f(&c[i])
		}
	}
}

// NewSet compiles zones and services into a Set. A zone nested in another
// one (loaded from its own file) answers for its names. Each service name
// must lie inside a zone (the most specific one), not at or below a
// delegation, not at a name with A, AAAA or CNAME records, and appear once;
// it is a name that exists even where the zone has no records, so its
// ancestors become empty non-terminals.
//
// It reports every conflict it finds, joined.
//
// NewSet does not change the Zones (the Set shares their records), so a
// reload may rebuild the Set from the Zones of files that did not change.
func NewSet(zs []*Zone, svcs []*Service) (*Set, error) {
	s := &Set{zones: make(map[string]*zoneData, len(zs))}
	var errs []error
	for _, z := range zs {
		if _, dup := s.zones[z.Origin]; dup {
			errs = append(errs, fmt.Errorf("zone %s is loaded twice (again from %s)", z.Origin, z.File))
			continue
		}
		s.zones[z.Origin] = compileZone(z)
	}
	for _, zd := range s.zones {
		if zd.origin != "." {
			zd.parent = s.findZone([]byte(parentName(zd.origin)))
		}
	}
	for _, svc := range svcs {
		if err := s.addService(svc); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...) // every conflict at once
	}
	for _, zd := range s.zones {
		zd.link()
	}
	for _, zd := range s.zones {
		s.additional(zd)
		s.infos = append(s.infos, zd.info)
	}
	sort.Slice(s.infos, func(i, j int) bool { return s.infos[i].Origin < s.infos[j].Origin })
	return s, nil
}

// Zones describes the zones of the Set, sorted by origin. The slice is
// shared: do not modify it.
func (s *Set) Zones() []ZoneInfo { return s.infos }

// Zone describes the zone with the given origin (any case).
func (s *Set) Zone(origin string) (ZoneInfo, bool) {
	zd := s.zones[canonName(origin)]
	if zd == nil {
		return ZoneInfo{}, false
	}
	return zd.info, true
}

// compileZone builds the nodes of a zone, the empty non-terminals among
// them. The zone's records are grouped by name and type (see
// Zone.Records), so each RRset is a run of them: the Set shares the
// slice, and an RRset is its offset and length.
func compileZone(z *Zone) *zoneData {
	rrs := z.rrs
	names, nsets := 1, 1 // owner names and RRsets: one run each
	for i := 1; i < len(rrs); i++ {
		h, prev := rrs[i].Header(), rrs[i-1].Header()
		if h.Name != prev.Name {
			names++
			nsets++
		} else if h.Rrtype != prev.Rrtype {
			nsets++
		}
	}
	zd := &zoneData{
		info:    ZoneInfo{Origin: z.Origin, Serial: z.Serial, File: z.File, Records: len(rrs)},
		origin:  z.Origin,
		records: rrs,
		extras:  [][]mdns.RR{nil},
	}
	zd.nodes.init(names + names/8)
	zd.ensure(z.Origin)
	sets := make([]rrset, 0, nsets) // sized once: 16 MiB for the 1M-record bench zone, grown and copied it peaked at three times that
	for i := 0; i < len(rrs); {
		name := rrs[i].Header().Name
		n := zd.ensure(name)
		if n.nsets > 0 {
			panic("zones: records of " + name + " are not grouped") // parse groups them
		}
		n.setOff = uint32(len(sets))
		for i < len(rrs) && rrs[i].Header().Name == name {
			t := rrs[i].Header().Rrtype
			j := i + 1
			for j < len(rrs) && rrs[j].Header().Rrtype == t && rrs[j].Header().Name == name {
				j++
			}
			sets = append(sets, rrset{off: uint32(i), n: uint32(j - i), typ: t})
			set := &sets[len(sets)-1]
			switch t {
			case mdns.TypeSOA:
				soa := mdns.Copy(rrs[i]).(*mdns.SOA)
				soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
				zd.negSOA = []mdns.RR{soa}
				zd.negTTL = soa.Hdr.Ttl
			case mdns.TypeNS:
				if name != z.Origin {
					n.cut = true
					zd.cuts++
				}
			case mdns.TypeCNAME:
				x := zd.extra(n)
				x.cname = zd.rrs(set)
				x.cnameTarget = nameBytes(canonName(x.cname[0].(*mdns.CNAME).Target))
			}
			i = j
		}
		n.nsets = uint16(uint32(len(sets)) - n.setOff)
	}
	zd.sets = sets
	return zd
}

// ensure returns the node for name (lower-case, inside the zone), creating
// it and its missing ancestors.
func (zd *zoneData) ensure(name string) *node {
	if n := zd.lookupString(name); n != nil {
		return n
	}
	n, id := zd.alloc.new(name)
	zd.insert(n, id)
	if name != zd.origin {
		// Siblings come together, most of them below the apex: their
		// parent is looked up once.
		if p := parentName(name); p != zd.lastParent {
			zd.ensure(p)
			zd.lastParent = p
		}
	}
	return n
}

// link sets what depends on the whole tree: the delegation above each
// node and wildcard children. (Every ancestor of a node is a node.)
func (zd *zoneData) link() {
	zd.alloc.each(func(n *node) {
		if n.name == zd.origin {
			return
		}
		for p := parentName(n.name); zd.cuts > 0 && p != zd.origin; p = parentName(p) {
			if pn := zd.lookupString(p); pn != nil && pn.cut { // (the apex is no cut)
				zd.extra(n).below = pn // only glue lives below a cut, so there is one
				break
			}
			if p == zd.origin {
				break
			}
		}
		if strings.HasPrefix(n.name, "*.") {
			if p := zd.lookupString(parentName(n.name)); p != nil {
				zd.extra(p).wild = n
			}
		}
	})
}

// addService makes svc a name of the most specific zone that holds it.
func (s *Set) addService(svc *Service) error {
	name := canonName(svc.Name)
	zd := s.findZone([]byte(name))
	if zd == nil {
		return fmt.Errorf("service %s is not inside any zone", svc.Name)
	}
	if strings.HasPrefix(name, "*.") {
		return fmt.Errorf("service %s: wildcard service names are not supported", svc.Name)
	}
	// A delegation at or above the name (and below the apex) hides it.
	for p := name; p != zd.origin; {
		if n := zd.lookupString(p); n != nil && n.cut {
			return fmt.Errorf("service %s is at or below the delegation %s in zone %s", svc.Name, p, zd.origin)
		}
		p = parentName(p)
	}
	n := zd.ensure(name)
	if n.service() != nil {
		return fmt.Errorf("service %s is defined twice", svc.Name)
	}
	for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeCNAME} {
		if rrs, _ := zd.get(n, t); rrs != nil {
			return fmt.Errorf("service %s: zone %s has %s records at that name", svc.Name, zd.origin, mdns.Type(t))
		}
	}
	zd.extra(n).service = svc
	return nil
}

// additional precomputes the additional-section addresses of NS, MX and
// SRV RRsets (targets anywhere in the Set), and the referral and glue at
// each delegation point (targets in this zone only).
func (s *Set) additional(zd *zoneData) {
	zd.alloc.each(func(n *node) {
		sets := zd.setsOf(n)
		for i := range sets {
			set := &sets[i]
			switch set.typ {
			case mdns.TypeNS, mdns.TypeMX, mdns.TypeSRV:
				if extra := s.addresses(zd.rrs(set), nil, &zd.rrBuf); extra != nil {
					set.extra = int32(len(zd.extras))
					zd.extras = append(zd.extras, extra)
				}
			}
			if set.typ == mdns.TypeNS && n.cut {
				zd.extra(n).cut = &cutData{referral: zd.rrs(set), glue: s.addresses(zd.rrs(set), zd, &zd.rrBuf)}
			}
		}
	})
}

// addresses returns the A and AAAA records of the targets of rrs that
// exist in the Set (only in zd, when zd is not nil), cut from buf.
func (s *Set) addresses(rrs []mdns.RR, zd *zoneData, buf *chunks[mdns.RR]) []mdns.RR {
	var out []mdns.RR
	var seen map[string]bool // (a large RRset's targets; a few are compared)
	if len(rrs) > 8 {
		seen = map[string]bool{}
	}
	for i, rr := range rrs {
		target := canonName(targetOf(rr))
		if seen != nil {
			if seen[target] {
				continue
			}
			seen[target] = true
		} else if slices.ContainsFunc(rrs[:i], func(rr mdns.RR) bool { return canonName(targetOf(rr)) == target }) {
			continue
		}
		in := zd
		if in == nil {
			in = s.findZone([]byte(target))
		} else if !mdns.IsSubDomain(zd.origin, target) {
			continue
		}
		if in == nil {
			continue
		}
		n := in.lookupString(target)
		if n == nil {
			continue
		}
		for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			rrs, _ := in.get(n, t)
			out = append(out, rrs...)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return buf.copy(out)
}

// targetOf returns the target of an NS, MX or SRV record.
func targetOf(rr mdns.RR) string {
	switch rr := rr.(type) {
	case *mdns.NS:
		return rr.Ns
	case *mdns.MX:
		return rr.Mx
	case *mdns.SRV:
		return rr.Target
	}
	return ""
}

// parentName returns name without its first label ("." for a TLD).
func parentName(name string) string {
	off, end := mdns.NextLabel(name, 0)
	if end || off >= len(name) {
		return "."
	}
	return name[off:]
}

// nameBytes returns the bytes of s, shared with the string: lookups take
// names as bytes and never write them, and a large zone has a CNAME target
// for every sixth name (a copy each was 100k small objects).
func nameBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
