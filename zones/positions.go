package zones

import "sort"

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

func packPositions(ps []pos) positions {
	p := positions{lines: make([]uint32, len(ps))}
	for i, q := range ps {
		p.lines[i] = uint32(q.line)
		if len(p.runs) == 0 || p.runs[len(p.runs)-1].file != q.file {
			p.runs = append(p.runs, fileRun{from: i, file: q.file})
		}
	}
	return p
}

// at returns the position of record i.
func (p positions) at(i int) pos {
	r := sort.Search(len(p.runs), func(k int) bool { return p.runs[k].from > i }) - 1
	return pos{file: p.runs[r].file, line: int(p.lines[i])}
}
