package server

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/status"
)

// srcKeys is the reload source of the DNSSEC keys directory.
const srcKeys = "keys"

// signing is the DNSSEC part of a generation: the keys read from
// [dnssec] keys_dir and the Signers built from them. It is kept from one
// generation to the next while the keys and the [dnssec] config do not
// change, so that the signature caches stay warm.
type signing struct {
	cfg  dnssec.Config
	keys *dnssec.Keyring
	set  *dnssec.Set
	next time.Time // the next key timing event (zero: none): rebuild then
}

// Signers returns the generation's DNSSEC signers (nil: nothing is signed).
// The DNS handler signs the answers of every zone that has one.
func (g *Generation) Signers() *dnssec.Set {
	if g.sign == nil {
		return nil
	}
	return g.sign.set
}

// TypesAt returns the types at name for the handler's denial proofs.
func (g *Generation) TypesAt(name string, qtype uint16) (types []uint16, ok bool) {
	return g.Set.TypesAt(name, qtype)
}

// CutDS returns the DS RRset at the delegation point cut, nil when none.
func (g *Generation) CutDS(cut string) []mdns.RR { return g.Set.CutDS(cut) }

// Keyring returns the keys the generation signs with (nil without
// [dnssec] keys_dir), for `godwit ds` and the status page.
func (g *Generation) Keyring() *dnssec.Keyring {
	if g.sign == nil {
		return nil
	}
	return g.sign.keys
}

// loadKeys reads the keys directory when it, the [dnssec] config, or (at
// its next timing event) the clock asks for it; otherwise prev's signing
// stays, caches and all. A directory that does not load keeps prev's keys.
func (rep *assembleReport) loadKeys(prev *Generation, cfg *Config, ch changes) *signing {
	dir := cfg.DNSSEC.KeysDir
	var old *signing
	if prev != nil {
		old = prev.sign
	}
	now := time.Now()
	if old != nil && !ch.all && !ch.keys && old.cfg == cfg.DNSSEC && (old.next.IsZero() || now.Before(old.next)) {
		return old
	}
	if dir == "" {
		return nil
	}
	kr, err := dnssec.LoadDir(dir)
	if err != nil {
		rep.fail(srcKeys, dir, keysError(cfg, err))
		if old != nil && old.cfg.KeysDir == dir {
			return old
		}
		return nil
	}
	set, err := dnssec.NewSet(kr, cfg.DNSSEC, nil)
	if err != nil {
		// The zones that can sign are in set; the others are reported.
		rep.fail(srcKeys, dir, fmt.Errorf("%s: %w", dir, err))
	} else {
		rep.ok(srcKeys, dir)
	}
	return &signing{cfg: cfg.DNSSEC, keys: kr, set: set, next: kr.NextChange(now)}
}

// keysError places a missing keys directory at the line of keys_dir.
func keysError(cfg *Config, err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return cfg.at("dnssec.keys_dir", pe)
	}
	if errors.Is(err, dnssec.ErrNoKeys) {
		return cfg.at("dnssec.keys_dir", err)
	}
	return err
}

// CheckKeys is what `godwit check` runs on the keys: dnssec.Check against
// the zones g serves, at now. It returns warnings (keys for a zone not
// served, an unsigned zone inside a signed one) and every error at once.
func CheckKeys(g *Generation, now time.Time) (warnings []string, err error) {
	cfg := g.Config.DNSSEC
	if cfg.KeysDir == "" {
		return nil, nil
	}
	var served []string
	for _, z := range g.Zones() {
		served = append(served, z.Origin)
	}
	ws, err := dnssec.Check(cfg.KeysDir, cfg, served, now)
	for _, w := range ws {
		if rest, ok := strings.CutPrefix(w, cfg.KeysDir+": "); ok {
			warnings = append(warnings, cfg.KeysDir+": warning: "+rest)
		} else {
			warnings = append(warnings, g.Config.path+": warning: "+w)
		}
	}
	if err != nil {
		err = keysError(g.Config, err)
	}
	return warnings, err
}

// DS returns the DS records of zone from the keys directory of cfg, as
// `godwit ds` prints them.
func DS(cfg *Config, zone string, now time.Time) ([]*mdns.DS, error) {
	if cfg.DNSSEC.KeysDir == "" {
		return nil, &ConfigError{File: cfg.path, Err: errors.New("no [dnssec] keys_dir: no zone is signed")}
	}
	kr, err := dnssec.LoadDir(cfg.DNSSEC.KeysDir)
	if err != nil {
		return nil, keysError(cfg, err)
	}
	zone = mdns.CanonicalName(zone)
	ds := kr.DS(zone, now)
	if len(ds) == 0 {
		return nil, fmt.Errorf("%s: no published key for zone %s", cfg.DNSSEC.KeysDir, zone)
	}
	return ds, nil
}

// isKeyFile reports whether base, a file in the keys directory, is one
// LoadDir reads.
func isKeyFile(base string) bool {
	return strings.HasPrefix(base, "K") && (filepath.Ext(base) == ".key" || filepath.Ext(base) == ".private")
}

// scheduleKeys arranges a keys reload at g's next key timing event, so
// that a key published, activated, retired or deleted by its metadata
// takes effect without a reload by hand.
func (r *reloader) scheduleKeys(g *Generation) {
	if g == nil || g.sign == nil || g.sign.next.IsZero() {
		return
	}
	r.retryMu.Lock()
	defer r.retryMu.Unlock()
	if r.stopped {
		return
	}
	if r.keysTimer != nil {
		r.keysTimer.Stop()
	}
	// A second late, so that the event has passed when the keys are read.
	r.keysTimer = time.AfterFunc(time.Until(g.sign.next)+time.Second, func() { _ = r.reload(changes{keys: true}) })
}

var _ dns.Signing = (*Generation)(nil)

// signingCollector exposes the signers' counters at scrape time, by zone:
// signatures made, signature cache hits (the hit rate is
// hits / (hits + signatures)), signing errors, cache entries, and the
// next key timing event. A signer rebuilt for new keys starts its
// counters again (a counter reset, as Prometheus expects after one).
type signingCollector struct {
	s                          *Server
	signed, hits, errs, cached *prometheus.Desc
	nextEvent                  *prometheus.Desc
}

func newSigningCollector(s *Server) *signingCollector {
	zone := []string{"zone"}
	return &signingCollector{
		s:      s,
		signed: prometheus.NewDesc("godwit_dnssec_signatures_total", "RRSIGs made (one per RRset and key), cache misses and refreshes included.", zone, nil),
		hits:   prometheus.NewDesc("godwit_dnssec_cache_hits_total", "RRsets and denial proofs answered from the signature cache.", zone, nil),
		errs:   prometheus.NewDesc("godwit_dnssec_signing_errors_total", "Signing operations that failed.", zone, nil),
		cached: prometheus.NewDesc("godwit_dnssec_cache_entries", "Signatures held in the zone's caches.", zone, nil),
		nextEvent: prometheus.NewDesc("godwit_dnssec_next_key_event_timestamp_seconds",
			"Unix time of the next key timing event (publish, activate, inactive, delete), when the keys are read again; absent when none.", nil, nil),
	}
}

func (c *signingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.signed, c.hits, c.errs, c.cached, c.nextEvent} {
		ch <- d
	}
}

func (c *signingCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.s.gen.Load()
	if g == nil || g.sign == nil {
		return
	}
	for _, sg := range g.sign.set.Signers() {
		st := sg.Stats()
		ch <- prometheus.MustNewConstMetric(c.signed, prometheus.CounterValue, float64(st.Signatures), sg.Zone())
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(st.Hits), sg.Zone())
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(st.Errors), sg.Zone())
		ch <- prometheus.MustNewConstMetric(c.cached, prometheus.GaugeValue, float64(st.Cached), sg.Zone())
	}
	if !g.sign.next.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.nextEvent, prometheus.GaugeValue, float64(g.sign.next.Unix()))
	}
}

// ExplainSigning says whether and how the answer to qname/qtype is signed
// for a query with the DO bit, for `godwit explain`; "" without
// [dnssec] keys_dir or outside our zones.
func (g *Generation) ExplainSigning(qname string, qtype uint16) string {
	set := g.Signers()
	if set == nil || g.Set == nil {
		return ""
	}
	res := g.Set.Lookup(qname, qtype)
	if res.Zone == "" {
		return ""
	}
	last := qname
	for _, rr := range res.Answer {
		if c, ok := rr.(*mdns.CNAME); ok {
			last = c.Target
		}
	}
	sg := set.For(last)
	if sg == nil {
		return fmt.Sprintf("dnssec: %s is in no signed zone: the answer goes out unsigned, with or without DO\n", last)
	}
	var keys []string
	now := time.Now()
	for _, k := range sg.Keys() {
		role := "ZSK"
		if k.SEP() {
			role = "KSK"
		}
		state := "published"
		if k.Active(now) {
			state = "active"
		}
		keys = append(keys, fmt.Sprintf("%d (%s, algorithm %d, %s)", k.Tag, role, k.Algorithm(), state))
	}
	cfg := g.Config.DNSSEC.WithDefaults()
	var how string
	switch {
	case qtype == dnssec.TypeNXNAME:
		how = "a query for NXNAME is answered FORMERR (RFC 9824)"
	case len(res.Ns) > 0 && res.Ns[0].Header().Rrtype == mdns.TypeNS && res.Service == nil:
		how = "a referral: NS and glue unsigned, the DS at the cut signed, or a compact NSEC proving there is none"
	case res.Rcode == mdns.RcodeNameError:
		how = fmt.Sprintf("%s does not exist: NOERROR (NXDOMAIN if the query sets CO) with the signed SOA and a compact NSEC %s NSEC \\000.%s RRSIG NSEC NXNAME", last, last, last)
	case res.Service == nil && len(res.Ns) > 0:
		types, _ := g.Set.TypesAt(last, qtype)
		var names []string
		for _, t := range types {
			if t != qtype {
				names = append(names, mdns.TypeToString[t])
			}
		}
		if strings.EqualFold(last, sg.Zone()) {
			names = append(names, "DNSKEY")
		}
		how = fmt.Sprintf("NODATA: the signed SOA and a compact NSEC at %s listing [%s] plus RRSIG NSEC", last, strings.Join(names, " "))
	case res.Service != nil:
		how = "the GSLB addresses are signed online as chosen (a signature per distinct address set and TTL, cached)"
	default:
		how = "RRSIGs after every RRset of the answer and of its additional data"
	}
	return fmt.Sprintf("dnssec: with DO, signed by zone %s, keys %s\n  %s\n  signatures valid %s from signing (inception %s earlier), made again when less than %s remains\n",
		sg.Zone(), strings.Join(keys, ", "), how, cfg.Validity.D(), cfg.Backdate.D(), cfg.Refresh.D())
}

// keyStatuses lists the keys of the signed zones for the status page.
func (g *Generation) keyStatuses(now time.Time) []status.KeyStatus {
	kr := g.Keyring()
	if kr == nil {
		return nil
	}
	valid := int64(g.Config.DNSSEC.WithDefaults().Validity.D() / time.Second)
	var out []status.KeyStatus
	for _, z := range kr.Zones() {
		for _, k := range kr.Keys(z) {
			ks := status.KeyStatus{Zone: z, Tag: k.Tag, Algorithm: k.Algorithm(), Role: "ZSK", State: "retired",
				File: g.Config.shortPath(k.File), SignaturesValid: valid}
			if k.SEP() {
				ks.Role = "KSK"
			}
			switch {
			case k.Published(now) && k.Active(now):
				ks.State = "active"
			case k.Published(now):
				ks.State = "published"
			}
			_, ks.Activate, ks.Inactive, ks.Delete = k.Timing()
			out = append(out, ks)
		}
	}
	return out
}
