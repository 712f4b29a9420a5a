package health

import "time"

// State is a probe's judgement of one address.
type State uint8

const (
	StateUnknown State = iota // no result yet: counts as up in the View
	StateUp
	StateDown
)

func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	}
	return "unknown"
}

// MarshalText makes State print as "up", "down" or "unknown" in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// machine is the rise/fall state machine of one probe.
//
// A probe starts Unknown, and its first result decides directly: up if it
// succeeds, down if it fails. So after a restart dead addresses are not
// served for rise×interval, nor is everything black-holed for rise×interval
// at boot. After that the state goes down after fall consecutive failures and
// up after rise consecutive successes. A probe restarted because its check
// changed keeps showing its old state, and its first result under the new
// config again decides directly (fresh).
type machine struct {
	state      State
	fresh      bool // the next result decides directly
	ok, fail   int  // consecutive successes, failures (one of them is 0)
	lastChange time.Time
}

// observe records one result and reports whether the state changed.
func (m *machine) observe(success bool, rise, fall int, now time.Time) bool {
	if success {
		m.ok++
		m.fail = 0
	} else {
		m.fail++
		m.ok = 0
	}
	next := m.state
	switch {
	case m.state == StateUnknown || m.fresh:
		next = StateDown
		if success {
			next = StateUp
		}
	case m.state == StateUp && m.fail >= fall:
		next = StateDown
	case m.state == StateDown && m.ok >= rise:
		next = StateUp
	}
	m.fresh = false
	if next == m.state {
		return false
	}
	m.state = next
	m.lastChange = now
	return true
}

// remaining is the number of further results that could change the state:
// 0 when stable (up with no failure streak), else the rest of the rise or
// fall streak; 1 while the next result decides directly.
func (m *machine) remaining(rise, fall int) int {
	switch {
	case m.state == StateUnknown || m.fresh:
		return 1
	case m.state == StateUp:
		if m.fail == 0 {
			return 0
		}
		return max(fall-m.fail, 1)
	default:
		return max(rise-m.ok, 1)
	}
}

// jitter is the spread of probe intervals: each wait is interval ± 10%.
const jitter = 0.1

// changeDeadline is the earliest time the state could change: the next
// probe (at next) plus remaining-1 further probes at the shortest jittered
// interval; the zero time when the state is stable.
func (m *machine) changeDeadline(rise, fall int, next time.Time, interval time.Duration) time.Time {
	n := m.remaining(rise, fall)
	if n == 0 {
		return time.Time{}
	}
	step := time.Duration(float64(interval) * (1 - jitter))
	return next.Add(time.Duration(n-1) * step)
}
