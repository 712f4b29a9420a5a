package routes

import (
	"sync"
	"sync/atomic"
)

// Routes is what the server holds: the static table and the BGP table
// combined into one immutable Table that queries read with Snapshot.
// SetStatic and SetBGP may be called from any goroutine; each builds the
// combined table off the query path and publishes it with one atomic store.
//
// Wiring a speaker:
//
//	r := routes.New()
//	var sp *routes.Speaker
//	sp, err := routes.NewSpeaker(cfg, log, func() { r.SetBGP(sp.Table()) })
type Routes struct {
	mu          sync.Mutex // serialises writers only
	static, bgp *Table
	cur         atomic.Pointer[Table]
}

// New returns Routes with an empty table.
func New() *Routes {
	r := &Routes{}
	r.cur.Store(&Table{})
	return r
}

// Snapshot returns the current table. Load it once per query.
func (r *Routes) Snapshot() *Table { return r.cur.Load() }

// SetStatic replaces the static layer (a table from LoadFile; nil clears it).
func (r *Routes) SetStatic(t *Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.static = t
	r.cur.Store(Combine(r.static, r.bgp))
}

// SetBGP replaces the BGP layer (Speaker.Table; nil clears it).
func (r *Routes) SetBGP(t *Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bgp = t
	r.cur.Store(Combine(r.static, r.bgp))
}

// Static returns the static layer (nil without a routes file), for the
// status page and metrics.
func (r *Routes) Static() *Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.static
}
