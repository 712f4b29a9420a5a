// Package cluster owns the link between Godwit instances through a
// distributed engine (NATS JetStream key-value buckets today): each instance
// publishes its health verdicts per (check, address) and the admin overrides
// set on it, and reads everyone's into an immutable Snapshot.
//
// It does not decide health: health.Decide turns the local verdict and the
// Snapshot's votes into the effective state, and the runtime (server/) wires
// the two together. It does not probe, serve DNS or keep the state file.
//
// The engine being away never blocks anything: publishing is asynchronous
// (latest verdict per key wins), and on losing the engine the Snapshot keeps
// the last known overrides, drops the remote verdicts (so a quorum falls
// back to the local verdict) and says since when the link is down. The
// engine rejoins by itself.
package cluster

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Verdict is one instance's health verdict (its rise/fall state, not a raw
// probe result) on one (check, address), as of At.
type Verdict struct {
	Instance string     `json:"instance"`
	Site     string     `json:"site"`
	Check    string     `json:"check"`
	Address  netip.Addr `json:"address"`
	Up       bool       `json:"up"`
	At       time.Time  `json:"at"`
}

// Override kinds and states, as in health.
const (
	KindAddress    = "address"
	KindDatacenter = "datacenter"

	StateUp    = "up"
	StateDown  = "down"
	StateDrain = "drain"
	StateClear = "clear" // removes the override everywhere
)

// Override is one admin override and where it came from.
type Override struct {
	Kind   string    `json:"kind"`   // KindAddress | KindDatacenter
	Key    string    `json:"key"`    // the address or the datacenter name
	State  string    `json:"state"`  // up | down | drain | clear
	Origin string    `json:"origin"` // the instance it was set on
	At     time.Time `json:"at"`
}

// LinkState is the state of the link to the engine.
type LinkState uint8

// Link states.
const (
	LinkConnecting LinkState = iota // not connected yet since start
	LinkUp                          // connected and in sync
	LinkDown                        // lost; reconnecting by itself
	LinkClosed                      // closed by Close
)

var linkNames = [...]string{"connecting", "up", "down", "closed"}

func (s LinkState) String() string {
	if int(s) < len(linkNames) {
		return linkNames[s]
	}
	return "unknown"
}

// MarshalText writes the state's name, for the status API.
func (s LinkState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Link is the link's state, since when, and the last error while not up.
type Link struct {
	State LinkState `json:"state"`
	Since time.Time `json:"since"`
	Err   string    `json:"error,omitempty"`
}

// UpdateKind says what an Update carries.
type UpdateKind uint8

// Update kinds.
const (
	// UpdateVerdict: Verdict was published (or is current at resync).
	UpdateVerdict UpdateKind = iota
	// UpdateVerdictGone: the key of Verdict (Instance, Check, Address) was removed.
	UpdateVerdictGone
	// UpdateOverride: Override was set (State clear removes it).
	UpdateOverride
	// UpdateOverrideGone: the key of Override (Kind, Key) was removed.
	UpdateOverrideGone
	// UpdateResync: the engine is about to send its whole state again;
	// what follows, up to UpdateSynced, replaces what came before.
	UpdateResync
	// UpdateSynced: the whole state has been sent; changes follow.
	UpdateSynced
	// UpdateLink: the link changed state (Link).
	UpdateLink
	// UpdateRejected: a value was dropped (another cluster's, or malformed).
	UpdateRejected
)

// Update is one event from an Engine.
type Update struct {
	Kind     UpdateKind
	Verdict  Verdict
	Override Override
	Link     Link
}

// Engine is one distributed store. Implementations: NATS (JetStream KV).
//
// Watch starts delivering Updates: a Link update whenever the link changes,
// and on every (re)connection an UpdateResync, every current verdict and
// override, UpdateSynced, then changes as they happen. The channel is
// closed after Close. Watch is called once.
//
// An implementation keeps only its own cluster's keys, expires verdicts
// after the configured TTL where the store can, and returns ErrNotConnected
// from Publish* at once while the link is down.
type Engine interface {
	PublishVerdict(ctx context.Context, v Verdict) error
	PublishOverride(ctx context.Context, o Override) error
	Watch(ctx context.Context) (<-chan Update, error)
	Close() error
}

// ErrNotConnected is returned by Publish* while the engine is away.
var ErrNotConnected = errors.New("cluster: engine not connected")
