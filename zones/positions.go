package zones

import (
	"slices"
	"sort"

	mdns "github.com/miekg/dns"
)

// positions is where each record of a Zone came from, in 4 bytes a record
// rather than a pos of 24: the line of each record, and the file per run
// of records (the file changes only where an $INCLUDE starts or ends).
type positions struct {
	lines []uint32
	runs  []fileRun // by from, ascending; the first from is 0
}

type fileRun struct {
	from int // index of the run's first record
	file string
}

func packPositions(ps []recPos, files []string) positions {
	p := positions{lines: make([]uint32, len(ps))}
	for i, q := range ps {
		p.lines[i] = q.line
		if len(p.runs) == 0 || p.runs[len(p.runs)-1].file != files[q.file] {
			p.runs = append(p.runs, fileRun{from: i, file: files[q.file]})
		}
	}
	return p
}

// at returns the position of record i.
func (p positions) at(i int) pos {
	r := sort.Search(len(p.runs), func(k int) bool { return p.runs[k].from > i }) - 1
	return pos{file: p.runs[r].file, line: int(p.lines[i])}
}

// grouped returns the validator's records and positions grouped as
// Zone.Records describes: by owner in order of first appearance, by type
// in order of first appearance at the owner, in file order within each.
// When the file had them so already (the usual case), they are v's own.
func (v *validator) grouped() ([]mdns.RR, []recPos) {
	perm := make([]int32, 0, len(v.rrs))
	identity := true
	var types []uint16
	// infos are in order of their first records (a name is added with its
	// first record, which is kept unless the name may hold none).
	for k := range v.infos.n {
		ni := v.infos.at(k)
		types = types[:0]
		for j := ni.first; j >= 0; j = v.next[j] {
			if t := v.rrs[j].Header().Rrtype; !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		for _, t := range types {
			for j := ni.first; j >= 0; j = v.next[j] {
				if v.rrs[j].Header().Rrtype == t {
					identity = identity && int(j) == len(perm)
					perm = append(perm, int32(j))
				}
			}
		}
	}
	if identity {
		if cap(v.rrs) > len(v.rrs)+len(v.rrs)/8 {
			// Sized by the file's lines (see parse); the zone keeps it.
			return slices.Clone(v.rrs), v.pos
		}
		return v.rrs, v.pos
	}
	rrs, ps := make([]mdns.RR, len(perm)), make([]recPos, len(perm))
	for k, j := range perm {
		rrs[k], ps[k] = v.rrs[j], v.pos[j]
	}
	return rrs, ps
}
