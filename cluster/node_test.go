package cluster

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeEngine is an Engine a test drives by hand.
type fakeEngine struct {
	updates chan Update
	mu      sync.Mutex
	puts    []Verdict
	fail    error
	put     chan Verdict
	failed  chan Verdict
	once    sync.Once
}

func newFake() *fakeEngine {
	return &fakeEngine{updates: make(chan Update, 16), put: make(chan Verdict, 16), failed: make(chan Verdict, 16)}
}

func (f *fakeEngine) PublishVerdict(_ context.Context, v Verdict) error {
	f.mu.Lock()
	err := f.fail
	if err == nil {
		f.puts = append(f.puts, v)
	}
	f.mu.Unlock()
	if err == nil {
		f.put <- v
	} else {
		f.failed <- v
	}
	return err
}
func (f *fakeEngine) PublishOverride(context.Context, Override) error { return nil }
func (f *fakeEngine) Watch(context.Context) (<-chan Update, error)    { return f.updates, nil }
func (f *fakeEngine) Close() error                                    { f.once.Do(func() { close(f.updates) }); return nil }

func runFake(t *testing.T, ttl time.Duration) (*member, *fakeEngine) {
	t.Helper()
	f := newFake()
	cfg := Config{Engine: "nats", Name: "c", Instance: "a", Site: "ams", VerdictTTL: Duration(ttl)}
	c := New(cfg, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	m := &member{Cluster: c}
	m.stop = func() { cancel(); <-done }
	t.Cleanup(m.stop)
	return m, f
}

var (
	addr1 = netip.MustParseAddr("192.0.2.1")
	addr2 = netip.MustParseAddr("192.0.2.2")
)

func TestClusterSnapshot(t *testing.T) {
	m, f := runFake(t, time.Minute)
	if s := m.Snapshot(); s.Link.State != LinkConnecting || s.Votes("web", addr1) != nil {
		t.Fatalf("before any update: %+v", s)
	}
	now := time.Now()
	up := Update{Kind: UpdateLink, Link: Link{State: LinkUp, Since: now}}
	ov := Override{Kind: KindDatacenter, Key: "iad", State: StateDrain, Origin: "b", At: now}
	f.updates <- Update{Kind: UpdateResync}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "b", Check: "web", Address: addr1, At: now.Add(-time.Second)}}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "c", Check: "web", Address: addr1, Up: true, At: now}}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "a", Check: "web", Address: addr1, Up: true, At: now}}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "b", Check: "web", Address: addr2, At: now.Add(-time.Hour)}} // stale
	f.updates <- Update{Kind: UpdateOverride, Override: ov}
	f.updates <- Update{Kind: UpdateOverride, Override: Override{Kind: KindAddress, Key: "192.0.2.9", State: StateClear, Origin: "b", At: now}}
	f.updates <- Update{Kind: UpdateSynced}
	f.updates <- up
	waitFor(t, m, "in sync", 5*time.Second, linkIs(LinkUp))

	s := m.Snapshot()
	v := s.Votes("web", addr1)
	if len(v) != 2 || v[0].Instance != "c" || v[1].Instance != "b" {
		t.Errorf("votes on addr1 = %+v, want c then b (newest first), not a's own", v)
	}
	if v := s.Votes("web", addr2); v != nil {
		t.Errorf("stale vote counted: %+v", v)
	}
	if n := len(s.Verdicts()); n != 3 {
		t.Errorf("%d fresh verdicts, want 3", n)
	}
	if o := s.Overrides(); len(o) != 1 || o[0] != ov {
		t.Errorf("overrides %+v, want only %+v (clear removed)", o, ov)
	}

	// The link goes down: overrides stay, votes go.
	f.updates <- Update{Kind: UpdateLink, Link: Link{State: LinkDown, Since: now, Err: "EOF"}}
	waitFor(t, m, "down", 5*time.Second, linkIs(LinkDown))
	s = m.Snapshot()
	if s.Votes("web", addr1) != nil || s.Verdicts() != nil || len(s.Overrides()) != 1 || s.Link.Err != "EOF" {
		t.Errorf("while down: votes %v, overrides %v, link %+v", s.Votes("web", addr1), s.Overrides(), s.Link)
	}

	// A resync replaces the state only once complete: the override removed
	// while away disappears at UpdateSynced, not before.
	f.updates <- Update{Kind: UpdateResync}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "b", Check: "web", Address: addr1, Up: true, At: time.Now()}}
	f.updates <- Update{Kind: UpdateRejected}
	waitFor(t, m, "rejected counted", 5*time.Second, func(s *Snapshot) bool { return s.Rejected == 1 })
	if len(m.Snapshot().Overrides()) != 1 {
		t.Error("overrides dropped before the resync completed")
	}
	f.updates <- Update{Kind: UpdateSynced}
	f.updates <- up
	waitFor(t, m, "resynced", 5*time.Second, func(s *Snapshot) bool {
		v := s.Votes("web", addr1)
		return s.Link.State == LinkUp && len(s.Overrides()) == 0 && len(v) == 1 && v[0].Up
	})

	// Removals.
	f.updates <- Update{Kind: UpdateOverride, Override: ov}
	f.updates <- Update{Kind: UpdateVerdictGone, Verdict: Verdict{Instance: "b", Check: "web", Address: addr1}}
	waitFor(t, m, "vote gone", 5*time.Second, func(s *Snapshot) bool { return s.Votes("web", addr1) == nil && len(s.Overrides()) == 1 })
	f.updates <- Update{Kind: UpdateOverrideGone, Override: Override{Kind: KindDatacenter, Key: "iad"}}
	waitFor(t, m, "override gone", 5*time.Second, func(s *Snapshot) bool { return len(s.Overrides()) == 0 })

	// Closing the engine ends Run with the link closed.
	f.Close()
	waitFor(t, m, "closed", 5*time.Second, linkIs(LinkClosed))
}

func TestClusterStaleVotesDropByThemselves(t *testing.T) {
	ttl := time.Second
	m, f := runFake(t, ttl)
	f.updates <- Update{Kind: UpdateLink, Link: Link{State: LinkUp, Since: time.Now()}}
	f.updates <- Update{Kind: UpdateVerdict, Verdict: Verdict{Instance: "b", Check: "web", Address: addr1, At: time.Now()}}
	waitFor(t, m, "vote", 5*time.Second, votesFrom("web", addr1, "b"))
	d := waitFor(t, m, "vote expired", 5*ttl, func(s *Snapshot) bool { return s.Votes("web", addr1) == nil })
	t.Logf("vote dropped %v after it arrived (ttl %v) with no update from the engine", d.Round(time.Millisecond), ttl)
}

func TestClusterReport(t *testing.T) {
	ttl := 3 * time.Second
	m, f := runFake(t, ttl)
	f.updates <- Update{Kind: UpdateLink, Link: Link{State: LinkUp, Since: time.Now()}}
	waitFor(t, m, "up", 5*time.Second, linkIs(LinkUp))
	next := func() Verdict {
		t.Helper()
		select {
		case v := <-f.put:
			return v
		case <-time.After(5 * time.Second):
			t.Fatal("no put")
		}
		return Verdict{}
	}
	none := func() {
		t.Helper()
		// Puts happen on a goroutine; a Report that would put shows up
		// after the next one that surely does.
		m.Report("sentinel", addr2, true, time.Now())
		if v := next(); v.Check != "sentinel" {
			t.Fatalf("unexpected put %+v", v)
		}
		m.mu.Lock()
		delete(m.sent, addrKey{"sentinel", addr2})
		m.mu.Unlock()
	}
	now := time.Now()
	m.Report("web", addr1, false, now)
	if v := next(); v.Instance != "a" || v.Site != "ams" || v.Check != "web" || v.Address != addr1 || v.Up {
		t.Errorf("put %+v", v)
	}
	m.Report("web", addr1, false, now.Add(time.Millisecond)) // unchanged, recent: not sent
	none()
	m.Report("web", addr1, true, now.Add(2*time.Millisecond)) // changed: sent
	if v := next(); !v.Up {
		t.Errorf("put %+v, want up", v)
	}
	m.Report("web", addr1, true, now.Add(ttl/3+time.Second)) // unchanged but due for refresh
	next()

	// While down nothing is put; the latest state goes out once back.
	f.updates <- Update{Kind: UpdateLink, Link: Link{State: LinkDown, Since: time.Now()}}
	waitFor(t, m, "down", 5*time.Second, linkIs(LinkDown))
	m.Report("web", addr1, false, time.Now())
	m.Report("web", addr1, true, time.Now())
	m.Report("web", addr1, false, time.Now())
	select {
	case v := <-f.put:
		t.Fatalf("put while down: %+v", v)
	default:
	}
	f.updates <- Update{Kind: UpdateLink, Link: Link{State: LinkUp, Since: time.Now()}}
	if v := next(); v.Up {
		t.Errorf("after rejoin put %+v, want the latest (down)", v)
	}

	// A failed put is retried.
	f.mu.Lock()
	f.fail = context.DeadlineExceeded
	f.mu.Unlock()
	m.Report("web", addr2, false, time.Now())
	<-f.failed
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	if v := next(); v.Address != addr2 {
		t.Errorf("retry put %+v", v)
	}
}

func TestSnapshotChanges(t *testing.T) {
	at := time.Now()
	st := newState()
	up := Link{State: LinkUp}
	a := Override{Kind: KindDatacenter, Key: "ams", State: StateDrain, Origin: "x", At: at}
	b := Override{Kind: KindAddress, Key: "192.0.2.1", State: StateDown, Origin: "y", At: at}
	st.overrides[overrideKeyOf(a)] = a
	st.overrides[overrideKeyOf(b)] = b
	s1 := build(st, up, "x", time.Minute, 0, at)
	if got := s1.Changes(nil); len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("from nothing: %+v", got)
	}
	if got := s1.Changes(s1); got != nil {
		t.Errorf("no change: %+v", got)
	}

	st = newState()
	a2 := a
	a2.State, a2.Origin = StateDown, "z"
	clr := Override{Kind: KindAddress, Key: "192.0.2.1", State: StateClear, Origin: "z", At: at}
	st.overrides[overrideKeyOf(a2)] = a2
	st.overrides[overrideKeyOf(clr)] = clr
	s2 := build(st, up, "x", time.Minute, 0, at)
	if got := s2.Changes(s1); len(got) != 2 || got[0] != clr || got[1] != a2 {
		t.Errorf("changed and cleared: %+v", got)
	}

	s3 := build(newState(), up, "x", time.Minute, 0, at)
	want := Override{Kind: KindDatacenter, Key: "ams", State: StateClear}
	if got := s3.Changes(s2); len(got) != 1 || got[0] != want {
		t.Errorf("deleted: %+v", got)
	}
}
