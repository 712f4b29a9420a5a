package health

import (
	"net/netip"
	"time"
)

// Status is what queries need to know about one answerable address.
type Status struct {
	Up      bool // may be served
	Drained bool // taken out by an admin drain (Up is false); reported apart from failures
	// Override is the admin override that decided, 0 when the probes did.
	Override OverrideState
	// Settle is the time until this status could next change (the next
	// probe that could flip it, or 0 when the state is stable). Select uses
	// it to shorten TTLs while anything is in doubt.
	//
	// It is 0 for a stable up probe and for overrides. For a probe in doubt
	// (a failure streak while up, any down state, no result yet) it counts
	// down to the earliest moment the remaining probes could flip it, and is
	// never below settleFloor, so Settle > 0 always means "may change".
	Settle time.Duration
}

// settleFloor is the least Settle of a status in doubt: a probe that is due
// or in flight may flip it at any moment.
const settleFloor = time.Millisecond

// View is an immutable snapshot of every probe's state and every admin
// override. A nil *View means "no health checking": everything is up.
type View struct {
	probes map[viewKey]viewEntry // by check and answered address
	addrOv map[netip.Addr]OverrideState
	dcOv   map[string]OverrideState
}

type viewKey struct {
	check string
	addr  netip.Addr
}

type viewEntry struct {
	up       bool
	deadline int64 // unix ns of the earliest possible change; 0 = stable
}

// OverrideView returns a view that holds admin overrides only, no probe
// states: what a server with a state file and no checks serves. The maps
// are used as they are and must not change afterwards.
func OverrideView(addr map[netip.Addr]OverrideState, dc map[string]OverrideState) *View {
	return &View{addrOv: addr, dcOv: dc}
}

// Lookup returns the status of addr in datacenter dc as judged by the named
// check ("" = no check: up unless overridden). Precedence: an address
// override, then a datacenter override, then the probe state. An address no
// probe covers, or whose probe has no result yet, is up. addr is the
// answered address (a target's check_address is mapped to it by the
// Checker). Lookup does not allocate.
func (v *View) Lookup(check, dc string, addr netip.Addr) Status {
	return v.LookupAt(check, dc, addr, time.Time{})
}

// LookupAt is Lookup with Settle measured at now, for callers that keep
// time as an argument; a zero now means the current time, read only when
// a state is in doubt.
func (v *View) LookupAt(check, dc string, addr netip.Addr, now time.Time) Status {
	if v == nil {
		return Status{Up: true}
	}
	if o, ok := v.override(dc, addr); ok {
		return o.status()
	}
	if check == "" {
		return Status{Up: true}
	}
	e, ok := v.probes[viewKey{check, addr}]
	if !ok {
		return Status{Up: true}
	}
	if e.deadline == 0 {
		return Status{Up: e.up}
	}
	if now.IsZero() {
		now = time.Now()
	}
	return Status{Up: e.up, Settle: settle(e.deadline, now)}
}

func (v *View) override(dc string, addr netip.Addr) (OverrideState, bool) {
	if len(v.addrOv) > 0 {
		if o, ok := v.addrOv[addr]; ok {
			return o, true
		}
	}
	if len(v.dcOv) > 0 {
		if o, ok := v.dcOv[dc]; ok {
			return o, true
		}
	}
	return 0, false
}

func settle(deadline int64, now time.Time) time.Duration {
	return max(time.Duration(deadline-now.UnixNano()), settleFloor)
}

// OverrideState is an admin's word on an address or a datacenter.
type OverrideState uint8

const (
	OverrideUp    OverrideState = iota + 1 // serve whatever the probes say
	OverrideDown                           // do not serve
	OverrideDrain                          // do not serve; reported as drained
)

func (o OverrideState) String() string {
	switch o {
	case OverrideUp:
		return "up"
	case OverrideDown:
		return "down"
	case OverrideDrain:
		return "drain"
	}
	return "none"
}

// MarshalText makes OverrideState print as "up", "down" or "drain".
func (o OverrideState) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

func (o OverrideState) status() Status {
	switch o {
	case OverrideDown:
		return Status{Override: o}
	case OverrideDrain:
		return Status{Drained: true, Override: o}
	}
	return Status{Up: true, Override: o}
}
