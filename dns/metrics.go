package dns

import (
	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// rcodeLabels are the rcodes counted by name; the rest count as "other".
var rcodeLabels = map[int]string{
	mdns.RcodeSuccess:        "NOERROR",
	mdns.RcodeFormatError:    "FORMERR",
	mdns.RcodeServerFailure:  "SERVFAIL",
	mdns.RcodeNameError:      "NXDOMAIN",
	mdns.RcodeNotImplemented: "NOTIMP",
	mdns.RcodeRefused:        "REFUSED",
	mdns.RcodeBadVers:        "BADVERS",
}

// handlerMetrics are the handler's counters. Children are resolved once, so
// counting on the query path is an atomic add.
type handlerMetrics struct {
	queries   *prometheus.CounterVec
	responses *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	truncated prometheus.Counter
	panics    prometheus.Counter
	signed    prometheus.Counter // responses with DNSSEC records

	udp, tcp       prometheus.Counter
	rcode          [mdns.RcodeBadVers + 1]prometheus.Counter
	rcodeOther     prometheus.Counter
	droppedQR      prometheus.Counter
	droppedShort   prometheus.Counter
	droppedInvalid prometheus.Counter // unparseable, answered FORMERR by the library
	droppedBusy    prometheus.Counter
	signErrors     prometheus.Counter
}

func newHandlerMetrics() *handlerMetrics {
	m := &handlerMetrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_dns_queries_total",
			Help: "DNS messages received, by transport.",
		}, []string{"proto"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_dns_responses_total",
			Help: "DNS responses sent, by rcode.",
		}, []string{"rcode"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_dns_dropped_total",
			Help: "DNS messages not answered normally, by reason: qr (a response), short (no header), malformed (answered FORMERR without parsing), inflight (max_inflight reached).",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_dns_truncated_total",
			Help: "UDP responses sent truncated (TC=1).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_dns_panics_total",
			Help: "Queries whose handling panicked and were answered SERVFAIL.",
		}),
		signed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_dnssec_signed_responses_total",
			Help: "Responses to DO queries in signed zones, sent with their RRSIGs and proofs.",
		}),
		signErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_dnssec_unsigned_rrsets_total",
			Help: "RRsets or denial proofs sent without their RRSIGs because signing them failed (the per-zone godwit_dnssec_signing_errors_total counts the failures).",
		}),
	}
	m.udp = m.queries.WithLabelValues("udp")
	m.tcp = m.queries.WithLabelValues("tcp")
	for code, name := range rcodeLabels {
		m.rcode[code] = m.responses.WithLabelValues(name)
	}
	m.rcodeOther = m.responses.WithLabelValues("other")
	m.droppedQR = m.dropped.WithLabelValues("qr")
	m.droppedShort = m.dropped.WithLabelValues("short")
	m.droppedInvalid = m.dropped.WithLabelValues("malformed")
	m.droppedBusy = m.dropped.WithLabelValues("inflight")
	return m
}

func (m *handlerMetrics) response(rcode int) {
	if rcode >= 0 && rcode < len(m.rcode) && m.rcode[rcode] != nil {
		m.rcode[rcode].Inc()
		return
	}
	m.rcodeOther.Inc()
}

func (m *handlerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queries, m.responses, m.dropped, m.truncated, m.panics, m.signed, m.signErrors}
}
