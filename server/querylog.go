package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/zones"
)

// LogConfig is the [log] section.
type LogConfig struct {
	// Queries is where the query log goes: a file path (appended to,
	// relative to the config file), "-" or "stdout" for standard output, ""
	// for no query log.
	Queries string `toml:"queries"`
	// Sample is the fraction of queries logged, in (0, 1]; default 1.
	Sample float64 `toml:"sample"`
}

// DefaultLogConfig logs nothing; with queries set, every query.
func DefaultLogConfig() LogConfig { return LogConfig{Sample: 1} }

// Validate checks the section.
func (c LogConfig) Validate() error {
	if c.Sample <= 0 || c.Sample > 1 {
		return fmt.Errorf("sample: %v is not a fraction in (0, 1]", c.Sample)
	}
	return nil
}

func (c LogConfig) toStdout() bool { return c.Queries == "-" || c.Queries == "stdout" }

// Query log limits: entries waiting for the writer (more are dropped and
// counted), and addresses recorded per answer.
const (
	queryLogQueue = 1024
	queryLogAddrs = 8
)

// queryLog writes one JSON line per logged service answer. The query path
// only copies a fixed-size entry into a bounded channel; when the writer
// falls behind, entries are dropped and counted rather than slowing
// answers.
type queryLog struct {
	sample  float64
	ch      chan queryEntry
	out     io.Writer
	w       *bufio.Writer
	closer  io.Closer // nil for stdout
	log     *slog.Logger
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	written prometheus.Counter
	dropped prometheus.Counter
	errors  prometheus.Counter
}

// queryEntry is one logged answer, by value: nothing in it points into the
// query's buffers.
type queryEntry struct {
	at         time.Time
	client     netip.Addr
	ecs        netip.Prefix
	qname      string // shared with the zone snapshot or the request: immutable
	qtype      uint16
	datacenter string
	failOpen   bool
	n          int // addresses answered; the first queryLogAddrs are kept
	addrs      [queryLogAddrs]netip.Addr
	latency    time.Duration
}

// openQueryLog opens cfg's query log; nil when it is off.
func openQueryLog(cfg LogConfig, reg prometheus.Registerer, logger *slog.Logger) (*queryLog, error) {
	if cfg.Queries == "" {
		return nil, nil
	}
	var w io.Writer = os.Stdout
	var closer io.Closer
	if !cfg.toStdout() {
		f, err := os.OpenFile(cfg.Queries, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("log.queries: %w", err)
		}
		w, closer = f, f
	}
	q := newQueryLog(w, cfg.Sample, queryLogQueue, logger)
	q.closer = closer
	if err := q.register(reg); err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, err
	}
	q.start()
	return q, nil
}

// newQueryLog returns a query log writing to w that keeps up to queue
// entries waiting. Call start to run its writer.
func newQueryLog(w io.Writer, sample float64, queue int, logger *slog.Logger) *queryLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &queryLog{
		sample: sample,
		ch:     make(chan queryEntry, queue),
		out:    w,
		w:      bufio.NewWriterSize(w, 64<<10),
		log:    logger,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_querylog_written_total",
			Help: "Query log lines written.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_querylog_dropped_total",
			Help: "Sampled queries not logged because the query log writer was behind.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_querylog_write_errors_total",
			Help: "Failed writes to the query log.",
		}),
	}
}

func (q *queryLog) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	return errors.Join(reg.Register(q.written), reg.Register(q.dropped), reg.Register(q.errors))
}

func (q *queryLog) start() { go q.run() }

// record logs one service answer, if sampled. It never blocks.
func (q *queryLog) record(at time.Time, qname string, qtype uint16, c *dns.ClientInfo, sel *zones.Selection, latency time.Duration) {
	if q.sample < 1 && rand.Float64() >= q.sample {
		return
	}
	e := queryEntry{
		at: at, client: c.Source, qname: qname, qtype: qtype,
		datacenter: sel.Datacenter, failOpen: sel.FailOpen, n: len(sel.Addrs), latency: latency,
	}
	if c.Family != 0 {
		e.ecs = c.ECSPrefix
	}
	copy(e.addrs[:], sel.Addrs)
	select {
	case q.ch <- e:
	default:
		q.dropped.Inc()
	}
}

// queryLine is the JSON form of one entry.
type queryLine struct {
	Time       string   `json:"time"`
	Client     string   `json:"client"`
	ECS        string   `json:"ecs,omitempty"`
	Qname      string   `json:"qname"`
	Qtype      string   `json:"qtype"`
	Rcode      string   `json:"rcode"`
	Datacenter string   `json:"datacenter"`
	Answer     []string `json:"answer"`
	More       int      `json:"more,omitempty"` // addresses answered beyond those listed
	FailOpen   bool     `json:"fail_open,omitempty"`
	Latency    float64  `json:"latency"` // seconds
}

func (e *queryEntry) line() queryLine {
	l := queryLine{
		Time:       e.at.UTC().Format(time.RFC3339Nano),
		Client:     e.client.String(),
		Qname:      e.qname,
		Qtype:      mdns.Type(e.qtype).String(),
		Rcode:      "NOERROR",
		Datacenter: e.datacenter,
		Answer:     make([]string, 0, min(e.n, queryLogAddrs)),
		FailOpen:   e.failOpen,
		Latency:    e.latency.Seconds(),
	}
	if e.ecs.IsValid() {
		l.ECS = e.ecs.String()
	}
	for _, a := range e.addrs[:min(e.n, queryLogAddrs)] {
		l.Answer = append(l.Answer, a.String())
	}
	l.More = e.n - len(l.Answer)
	return l
}

func (q *queryLog) run() {
	defer close(q.done)
	enc := json.NewEncoder(q.w)
	write := func(e *queryEntry) {
		if err := enc.Encode(e.line()); err != nil {
			q.errors.Inc()
			return
		}
		q.written.Inc()
	}
	flush := func() {
		if err := q.w.Flush(); err != nil {
			q.errors.Inc()
			q.log.Warn("query log: write failed", "err", err)
			q.w.Reset(q.out) // drop what could not be written; do not retry forever
		}
	}
	for {
		select {
		case e := <-q.ch:
			write(&e)
			if len(q.ch) == 0 {
				flush()
			}
		case <-q.stop:
			for {
				select {
				case e := <-q.ch:
					write(&e)
				default:
					flush()
					return
				}
			}
		}
	}
}

// close writes what is queued, stops the writer and closes the file. The
// query path may still call record afterwards: those entries are dropped.
func (q *queryLog) close() {
	q.once.Do(func() {
		close(q.stop)
		select {
		case <-q.done:
		case <-time.After(5 * time.Second):
			q.log.Warn("query log: writer did not finish in time")
		}
		if q.closer != nil {
			_ = q.closer.Close()
		}
	})
}
