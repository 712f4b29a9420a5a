package status

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// Backend is what the status server reads and acts on. The command
// implements it over the live snapshots; the status package imports none of
// the other godwit packages.
type Backend interface {
	// Snapshot describes the server now. It is called once per page or
	// /api/v1/status request and must be safe for concurrent use.
	Snapshot() Snapshot
	// Explain tells how the answer to name/qtype for client is chosen. name
	// is a fully qualified domain name, qtype a type mnemonic ("A", "AAAA"),
	// client an IP address (a query from it without ECS) or a prefix (a
	// query carrying it as EDNS Client Subnet). The result is encoded as JSON by the API and, if
	// it implements fmt.Stringer, shown as text on the page.
	Explain(ctx context.Context, name, qtype, client string) (any, error)
	// Override sets an admin override. kind is KindAddress or KindDatacenter,
	// key an IP address (canonical form) or a datacenter name, state one of
	// up, down, drain or clear (remove the override).
	Override(ctx context.Context, kind, key, state string) error
	// Reload re-reads the config, zones, GeoIP databases and routes file now.
	Reload(ctx context.Context) error
}

// Errors a Backend wraps so that the API answers with the right status code:
// ErrInvalid → 400, ErrNotFound → 404, anything else → 500.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("not found")
)

// Override kinds and states.
const (
	KindAddress    = "address"
	KindDatacenter = "datacenter"

	OverrideUp    = "up"
	OverrideDown  = "down"
	OverrideDrain = "drain"
	OverrideClear = "clear"
)

// States used in the snapshot. The page styles these; other values are shown
// as they are.
const (
	StateUp          = "up"           // healthy, serving
	StateDown        = "down"         // failed (probe or override)
	StateDrain       = "drain"        // taken out by an admin drain
	StateUnknown     = "unknown"      // no probe result yet (served as up)
	StateDegraded    = "degraded"     // some addresses or targets down, still serving
	StateFailingOpen = "failing-open" // every target down: all are served
	StateOK          = "ok"           // service or file fine
	StateError       = "error"        // file or zone failed to load
)

// Snapshot is the whole status at one moment. The command fills it in; the
// page and GET /api/v1/status show it. Times are absolute; the page shows
// them relative to Now.
type Snapshot struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"` // zero: the status server fills in time.Now()
	// Ready is set by the status server from SetReady.
	Ready bool `json:"ready"`

	Zones       []ZoneStatus       `json:"zones"`
	Datacenters []DatacenterStatus `json:"datacenters"`
	Services    []ServiceStatus    `json:"services"`
	Probes      []ProbeStatus      `json:"probes"`
	Peers       []PeerStatus       `json:"peers"`
	// BGP is the BGP table as a whole; nil without [routes.bgp].
	BGP   *BGPStatus   `json:"bgp,omitempty"`
	Files []FileStatus `json:"files"`
	// Cluster is the link to the other instances; nil without [cluster].
	Cluster *ClusterStatus `json:"cluster,omitempty"`
	// Keys are the DNSSEC keys of the signed zones ([dnssec] keys_dir);
	// absent when nothing is signed.
	Keys []KeyStatus `json:"keys,omitempty"`

	// Traffic over the recent window (Window long).
	QPS     float64           `json:"qps"`
	Queries uint64            `json:"queries"` // since start
	Window  time.Duration     `json:"window_ns"`
	Rcodes  map[string]uint64 `json:"rcodes"` // rcode name → count since start

	// Warnings are shown at the top of the page: failing-open services,
	// files that did not load, peers down, anything the operator should see.
	Warnings []string `json:"warnings"`
}

// KeyStatus is one DNSSEC key of a signed zone.
type KeyStatus struct {
	Zone      string `json:"zone"` // FQDN, lower case
	Tag       uint16 `json:"tag"`
	Algorithm uint8  `json:"algorithm"` // 13 (ECDSAP256SHA256) or 15 (ED25519)
	Role      string `json:"role"`      // "KSK" (flags 257: a KSK or CSK) or "ZSK"
	// State is "active" (published and signing), "published" (in the
	// DNSKEY RRset, not signing) or "retired" (neither).
	State string `json:"state"`
	File  string `json:"file"`
	// Timing metadata from the .private file; zero when not set.
	Activate time.Time `json:"activate"`
	Inactive time.Time `json:"inactive"`
	Delete   time.Time `json:"delete"`
	// SignaturesValid is how long a signature made now stays valid
	// ([dnssec] validity), in seconds.
	SignaturesValid int64 `json:"signatures_valid_s"`
}

// ZoneStatus is one loaded zone.
type ZoneStatus struct {
	Name     string    `json:"name"` // FQDN, lower case
	File     string    `json:"file"`
	Serial   uint32    `json:"serial"`
	Records  int       `json:"records"`
	Services int       `json:"services"` // GSLB names inside the zone
	LoadedAt time.Time `json:"loaded_at"`
	OK       bool      `json:"ok"`    // the last load attempt succeeded
	Error    string    `json:"error"` // the last load error (file:line), "" if OK
}

// DatacenterStatus is one datacenter: its health and its recent share of
// service answers.
type DatacenterStatus struct {
	Name     string   `json:"name"`
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	ASNs     []uint32 `json:"asns,omitempty"`
	State    string   `json:"state"`    // up, degraded, down, drain
	Override string   `json:"override"` // admin override in force: "", up, down, drain
	// OverrideOrigin is the cluster instance the override was set on.
	OverrideOrigin string `json:"override_origin,omitempty"`
	// Addresses counts the datacenter's distinct target addresses over all
	// services, Healthy those that no service sees down or drained. The
	// status server recounts both from Services (an address listed by two
	// services counts once).
	Addresses int `json:"addresses"`
	Healthy   int `json:"healthy"`
	// Answers is how many service answers led with this datacenter in the
	// recent window; Share is Answers over all such answers (0..1).
	Answers uint64  `json:"answers"`
	Share   float64 `json:"share"`
	// AnswersTotal is how many service answers led with this datacenter
	// since start (a running total). When the Backend fills it in, the
	// history's answer share is exact per 10 s step; otherwise it samples
	// Share.
	AnswersTotal uint64 `json:"answers_total,omitempty"`
}

// ServiceStatus is one GSLB name.
type ServiceStatus struct {
	Name     string         `json:"name"`
	Policy   string         `json:"policy"`
	Fallback string         `json:"fallback"`
	Answers  int            `json:"answers"` // addresses per family
	TTL      uint32         `json:"ttl"`
	MinTTL   uint32         `json:"min_ttl"`
	Check    string         `json:"check"`
	State    string         `json:"state"` // ok, degraded, failing-open
	Targets  []TargetStatus `json:"targets"`
}

// FailingOpen reports whether every target is down and all are served.
func (s ServiceStatus) FailingOpen() bool { return s.State == StateFailingOpen }

// TargetStatus is one datacenter's addresses for a service.
type TargetStatus struct {
	Datacenter string          `json:"datacenter"`
	Weight     int             `json:"weight"`
	State      string          `json:"state"` // up, degraded, down, drain
	Addresses  []AddressStatus `json:"addresses"`
}

// AddressStatus is one target address.
type AddressStatus struct {
	Address  netip.Addr `json:"address"`
	State    string     `json:"state"`    // up, down, drain, unknown
	Override string     `json:"override"` // admin override in force, "" if none
	// OverrideOrigin is the cluster instance the override was set on.
	OverrideOrigin string `json:"override_origin,omitempty"`
}

// ProbeStatus is one health probe: a check run against one address.
type ProbeStatus struct {
	Check      string        `json:"check"`
	Type       string        `json:"type"` // http, https, tcp, dns, exec, file
	Address    netip.Addr    `json:"address"`
	Datacenter string        `json:"datacenter"`
	Target     string        `json:"target"` // what is probed, e.g. "http://192.0.2.10:80/healthz"
	State      string        `json:"state"`  // up, down, unknown
	Override   string        `json:"override"`
	LastResult string        `json:"last_result"` // "200 OK", "connection refused", ...
	LastOK     bool          `json:"last_ok"`
	Latency    time.Duration `json:"latency_ns"`
	LastCheck  time.Time     `json:"last_check"`
	LastChange time.Time     `json:"last_change"`
	// Successes and Failures are the current consecutive counts.
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// With a cluster: Effective is the state every vantage point's
	// verdict gives (up, down), Rule and Reason how it was decided, and
	// Votes each vantage point's fresh verdict (this instance's too).
	Effective string       `json:"effective,omitempty"`
	Rule      string       `json:"rule,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Votes     []VoteStatus `json:"votes,omitempty"`
}

// VoteStatus is one vantage point's verdict on a probe's (check, address).
type VoteStatus struct {
	Instance string        `json:"instance"`
	Site     string        `json:"site"`
	State    string        `json:"state"` // up, down
	At       time.Time     `json:"at"`    // when it was published
	Age      time.Duration `json:"age_ns"`
}

// ClusterStatus is this instance's link to the others of its cluster.
// It never carries credentials.
type ClusterStatus struct {
	Engine         string        `json:"engine"`
	Name           string        `json:"name"`
	Instance       string        `json:"instance"`
	Site           string        `json:"site"`
	Rule           string        `json:"rule"` // local, quorum, any
	Quorum         int           `json:"quorum,omitempty"`
	QuorumFraction float64       `json:"quorum_fraction,omitempty"`
	VerdictTTL     time.Duration `json:"verdict_ttl_ns"`
	Link           string        `json:"link"` // connecting, up, down, closed
	LinkSince      time.Time     `json:"link_since"`
	LinkError      string        `json:"link_error,omitempty"`
	Rejected       uint64        `json:"rejected"`    // values from the engine dropped
	Unpublished    int           `json:"unpublished"` // overrides set here while the engine was away
	VantagePoints  int           `json:"vantage_points"`
}

// PeerStatus is one BGP neighbour.
type PeerStatus struct {
	Address    netip.Addr `json:"address"`
	ASN        uint32     `json:"asn"`
	Datacenter string     `json:"datacenter"`
	State      string     `json:"state"`    // idle, connect, active, opensent, openconfirm, established
	Since      time.Time  `json:"since"`    // last state change
	Received   int        `json:"received"` // prefixes received
	Accepted   int        `json:"accepted"` // prefixes in the route table
	// Stale is how many of Accepted are still the routes from the cache
	// read at start, which the peer has not sent again (0 after its End-of-RIB).
	Stale     int    `json:"stale"`
	LastError string `json:"last_error"`
}

// BGPStatus is the BGP table as a whole: whether it still answers from the
// cache read at start ([routes.bgp] cache_file).
type BGPStatus struct {
	// Stale is true while routes from the cache that no peer has confirmed
	// yet are in the table: StalePrefixes of them (one per peer and
	// prefix), each dropped when its peer sends End-of-RIB and all of them
	// at StaleUntil at the latest (stale_timeout after start).
	Stale         bool      `json:"stale"`
	StalePrefixes int       `json:"stale_prefixes"`
	StaleUntil    time.Time `json:"stale_until"`
	// CacheFile is cache_file ("" without one); CacheLoaded the routes read
	// from it at start, written at CacheWritten; CacheError why it was not
	// used ("" if it was, or there was none yet).
	CacheFile    string    `json:"cache_file,omitempty"`
	CacheLoaded  int       `json:"cache_loaded"`
	CacheWritten time.Time `json:"cache_written"`
	CacheError   string    `json:"cache_error,omitempty"`
}

// FileStatus is one input file the server watches and reloads.
type FileStatus struct {
	Kind        string    `json:"kind"` // config, zone, mmdb, routes, state
	Path        string    `json:"path"`
	LoadedAt    time.Time `json:"loaded_at"`  // when the version serving now was loaded
	OK          bool      `json:"ok"`         // the last attempt succeeded
	LastError   string    `json:"last_error"` // the last attempt's error (file:line), "" if OK
	LastErrorAt time.Time `json:"last_error_at"`
}

// normalize makes empty lists [] rather than null in JSON, and fills Now.
func (s *Snapshot) normalize(now time.Time) {
	if s.Now.IsZero() {
		s.Now = now
	}
	if s.Zones == nil {
		s.Zones = []ZoneStatus{}
	}
	if s.Datacenters == nil {
		s.Datacenters = []DatacenterStatus{}
	}
	if s.Services == nil {
		s.Services = []ServiceStatus{}
	}
	if s.Probes == nil {
		s.Probes = []ProbeStatus{}
	}
	if s.Peers == nil {
		s.Peers = []PeerStatus{}
	}
	if s.Files == nil {
		s.Files = []FileStatus{}
	}
	if s.Rcodes == nil {
		s.Rcodes = map[string]uint64{}
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	s.countAddresses()
}

// countAddresses sets each datacenter's Addresses and Healthy to its
// distinct addresses over all services, healthy when no service has it down
// or drained (up and unknown are served). A datacenter that no service
// lists keeps the Backend's counts.
func (s *Snapshot) countAddresses() {
	type dc struct{ all, sick map[netip.Addr]bool }
	dcs := map[string]*dc{}
	for _, svc := range s.Services {
		for _, t := range svc.Targets {
			d := dcs[t.Datacenter]
			if d == nil {
				d = &dc{all: map[netip.Addr]bool{}, sick: map[netip.Addr]bool{}}
				dcs[t.Datacenter] = d
			}
			for _, a := range t.Addresses {
				d.all[a.Address] = true
				if a.State == StateDown || a.State == StateDrain {
					d.sick[a.Address] = true
				}
			}
		}
	}
	s.Datacenters = slices.Clone(s.Datacenters) // the Backend's, not ours to change
	for i := range s.Datacenters {
		if d := dcs[s.Datacenters[i].Name]; d != nil {
			s.Datacenters[i].Addresses = len(d.all)
			s.Datacenters[i].Healthy = len(d.all) - len(d.sick)
		}
	}
}
