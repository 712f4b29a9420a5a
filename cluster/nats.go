package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is the Engine over NATS JetStream key-value buckets, two per
// cluster: "godwit_<name>_verdicts" (in memory, every value expires TTL
// after its last put: the bucket's MaxAge, which servers before 2.11 apply
// per key without telling watchers, so readers also drop stale verdicts by
// their timestamp) and "godwit_<name>_overrides" (on disk, no expiry).
// Instances read only their cluster's buckets; NATS permissions can fence a
// user to "$KV.godwit_<name>_*.>".
//
// The connection retries forever in the background (also when the server
// is not reachable at start); on every (re)connection the buckets are
// created when missing (updated only when their settings changed) and
// watched afresh, which sends the whole state again.
type NATS struct {
	cfg Config
	ttl time.Duration
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	kv      atomic.Pointer[buckets] // nil until the first attach
	sig     chan struct{}           // capacity 1: the connection changed
	lastErr atomic.Pointer[string]

	watchOnce sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	done      chan struct{} // closed when the watch loop has ended
}

type buckets struct {
	verdicts, overrides jetstream.KeyValue
}

// Bucket names of a cluster.
func verdictBucket(name string) string  { return "godwit_" + name + "_verdicts" }
func overrideBucket(name string) string { return "godwit_" + name + "_overrides" }

// Connection tuning: a link that stops answering is declared lost after
// about pingInterval × (maxPings+1); reconnects are tried every
// reconnectWait (plus jitter) forever.
const (
	pingInterval  = 5 * time.Second
	maxPings      = 2
	reconnectWait = 500 * time.Millisecond
	attachTimeout = 5 * time.Second
)

// NewNATS connects to the NATS servers cfg names, in the background.
func NewNATS(cfg Config, log *slog.Logger) (*NATS, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &NATS{cfg: cfg, ttl: cfg.TTL(), log: log, sig: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	opts, err := e.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	e.nc, e.js = nc, js
	return e, nil
}

func (e *NATS) options() ([]nats.Option, error) {
	c := e.cfg
	opts := []nats.Option{
		nats.Name("godwit " + c.Name + "/" + c.Instance),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPings),
		nats.Timeout(2 * time.Second),
		nats.ReconnectBufSize(-1), // fail publishes at once while away
		nats.ConnectHandler(func(*nats.Conn) { e.signal() }),
		nats.ReconnectHandler(func(*nats.Conn) { e.signal() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s := err.Error()
				e.lastErr.Store(&s)
			}
			e.signal()
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s := err.Error()
				e.lastErr.Store(&s)
			}
			e.signal()
		}),
		nats.ClosedHandler(func(*nats.Conn) { e.signal() }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			e.log.Debug("cluster: nats async error", "err", err)
		}),
	}
	switch {
	case c.CredentialsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	case c.NkeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_file %s: %w", c.NkeyFile, err)
		}
		opts = append(opts, o)
	case c.UserFile != "":
		s, err := c.LoadSecrets()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(s.User.reveal(), s.Password.reveal()))
	}
	if c.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	return opts, nil
}

func (e *NATS) signal() {
	select {
	case e.sig <- struct{}{}:
	default:
	}
}

// PublishVerdict puts v under its key in the verdicts bucket.
func (e *NATS) PublishVerdict(ctx context.Context, v Verdict) error {
	b := e.kv.Load()
	if b == nil || !e.nc.IsConnected() {
		return ErrNotConnected
	}
	_, err := b.verdicts.Put(ctx, verdictKeyOf(v), encodeVerdict(e.cfg.Name, v))
	return err
}

// PublishOverride puts o under its key in the overrides bucket.
func (e *NATS) PublishOverride(ctx context.Context, o Override) error {
	b := e.kv.Load()
	if b == nil || !e.nc.IsConnected() {
		return ErrNotConnected
	}
	_, err := b.overrides.Put(ctx, overrideKeyOf(o), encodeOverride(e.cfg.Name, o))
	return err
}

// Close closes the connection and ends Watch's channel.
func (e *NATS) Close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		e.nc.Close()
	})
	e.watchOnce.Do(func() { close(e.done) }) // Watch never called: nothing to wait for
	<-e.done
	return nil
}

// Stats returns the connection's counters (messages and payload bytes in
// and out), for measurement.
func (e *NATS) Stats() nats.Statistics { return e.nc.Stats() }

// Watch starts following the buckets; see Engine.
func (e *NATS) Watch(ctx context.Context) (<-chan Update, error) {
	out := make(chan Update, 64)
	started := false
	e.watchOnce.Do(func() {
		started = true
		go e.loop(ctx, out)
	})
	if !started {
		return nil, errors.New("cluster: nats: Watch called twice or after Close")
	}
	return out, nil
}

func (e *NATS) loop(ctx context.Context, out chan<- Update) {
	defer close(e.done)
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	state, since, lastErr := LinkConnecting, time.Now(), ""
	// setLink reports a new state, or a new error in the same state
	// (keeping its Since), so the status page says why it is not up.
	setLink := func(s LinkState, err error) bool {
		msg := ""
		if err != nil {
			msg = err.Error()
		} else if p := e.lastErr.Load(); p != nil && s != LinkUp {
			msg = *p
		}
		if s == state && msg == lastErr {
			return true
		}
		if s != state {
			since = time.Now()
		}
		state, lastErr = s, msg
		return e.send(ctx, out, Update{Kind: UpdateLink, Link: Link{State: s, Since: since, Err: msg}})
	}
	for ctx.Err() == nil {
		if e.nc.IsConnected() {
			err := e.session(ctx, out, func() bool { return setLink(LinkUp, nil) })
			if ctx.Err() != nil {
				return
			}
			switch {
			case state == LinkUp:
				setLink(LinkDown, err)
			case err != nil:
				setLink(state, err)
			}
			if err != nil {
				e.log.Debug("cluster: nats session ended", "err", err)
			}
			// A session that failed while connected (JetStream not ready
			// yet after a restart) is retried after a short pause.
			if e.nc.IsConnected() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		if state == LinkUp {
			setLink(LinkDown, nil)
		} else {
			setLink(state, nil) // the latest failed attempt's reason
		}
		select {
		case <-ctx.Done():
			return
		case <-e.sig:
		case <-time.After(time.Second):
		}
	}
}

func (e *NATS) send(ctx context.Context, out chan<- Update, u Update) bool {
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

var errLinkLost = errors.New("connection lost")

// session attaches to the buckets, sends the whole state and then changes,
// until the connection is lost or ctx ends.
func (e *NATS) session(ctx context.Context, out chan<- Update, up func() bool) error {
	actx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	replicas := max(e.cfg.Replicas, 1)
	vb, err := e.openBucket(actx, jetstream.KeyValueConfig{
		Bucket:      verdictBucket(e.cfg.Name),
		Description: "Godwit health verdicts of cluster " + e.cfg.Name,
		History:     1,
		TTL:         e.ttl,
		Storage:     jetstream.MemoryStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("verdicts bucket: %w", err)
	}
	ob, err := e.openBucket(actx, jetstream.KeyValueConfig{
		Bucket:      overrideBucket(e.cfg.Name),
		Description: "Godwit admin overrides of cluster " + e.cfg.Name,
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("overrides bucket: %w", err)
	}
	e.kv.Store(&buckets{verdicts: vb, overrides: ob})

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wv, err := vb.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("watch verdicts: %w", err)
	}
	defer wv.Stop()
	wo, err := ob.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("watch overrides: %w", err)
	}
	defer wo.Stop()

	if !e.send(ctx, out, Update{Kind: UpdateResync}) {
		return ctx.Err()
	}
	vSynced, oSynced, synced := false, false, false
	for {
		if !synced && vSynced && oSynced {
			synced = true
			if !e.send(ctx, out, Update{Kind: UpdateSynced}) || !up() {
				return ctx.Err()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.sig:
			if !e.nc.IsConnected() {
				return errLinkLost
			}
		case en, ok := <-wv.Updates():
			if !ok {
				return errors.New("verdict watch ended")
			}
			if en == nil {
				vSynced = true
				continue
			}
			if !e.send(ctx, out, e.verdictUpdate(en)) {
				return ctx.Err()
			}
		case en, ok := <-wo.Updates():
			if !ok {
				return errors.New("override watch ended")
			}
			if en == nil {
				oSynced = true
				continue
			}
			if !e.send(ctx, out, e.overrideUpdate(en)) {
				return ctx.Err()
			}
		}
	}
}

// openBucket looks the bucket up, creates it when it is missing, and
// updates it only when its settings differ from cfg's (verdict_ttl or
// replicas changed). It never sends a stream update that changes nothing:
// nats-server 2.9 (Debian 12's) can crash when several clients update one
// stream at the same moment, which every instance reconnecting after a
// server restart would otherwise do.
func (e *NATS) openBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := e.js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = e.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) { // another instance was first, with other settings
			kv, err = e.js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if bucketMatches(st, cfg) {
		return kv, nil
	}
	e.log.Info("cluster: updating bucket settings", "bucket", cfg.Bucket)
	return e.js.UpdateKeyValue(ctx, cfg)
}

// bucketMatches reports whether the bucket has the settings Godwit sets.
func bucketMatches(st jetstream.KeyValueStatus, cfg jetstream.KeyValueConfig) bool {
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return st.TTL() == cfg.TTL && st.History() == int64(cfg.History)
	}
	sc := bs.StreamInfo().Config
	return sc.MaxAge == cfg.TTL && sc.MaxMsgsPerSubject == int64(cfg.History) &&
		sc.Storage == cfg.Storage && sc.Replicas == cfg.Replicas
}

func (e *NATS) verdictUpdate(en jetstream.KeyValueEntry) Update {
	if en.Operation() != jetstream.KeyValuePut {
		v, err := parseVerdictKey(en.Key())
		if err != nil {
			return Update{Kind: UpdateRejected}
		}
		return Update{Kind: UpdateVerdictGone, Verdict: v}
	}
	v, err := decodeVerdict(e.cfg.Name, en.Key(), en.Value())
	if err != nil {
		e.log.Debug("cluster: verdict dropped", "err", err)
		return Update{Kind: UpdateRejected}
	}
	return Update{Kind: UpdateVerdict, Verdict: v}
}

func (e *NATS) overrideUpdate(en jetstream.KeyValueEntry) Update {
	if en.Operation() != jetstream.KeyValuePut {
		o, err := parseOverrideKey(en.Key())
		if err != nil {
			return Update{Kind: UpdateRejected}
		}
		return Update{Kind: UpdateOverrideGone, Override: o}
	}
	o, err := decodeOverride(e.cfg.Name, en.Key(), en.Value())
	if err != nil {
		e.log.Warn("cluster: override dropped", "err", err)
		return Update{Kind: UpdateRejected}
	}
	return Update{Kind: UpdateOverride, Override: o}
}
