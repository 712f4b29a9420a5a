package dns

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counts returns the queries received and the responses sent by rcode
// name since start, from the handler's own counters (for the status page).
func (h *Handler) Counts() (queries uint64, rcodes map[string]uint64) {
	queries = readCounter(h.m.udp) + readCounter(h.m.tcp)
	rcodes = map[string]uint64{}
	for code, name := range rcodeLabels {
		if n := readCounter(h.m.rcode[code]); n > 0 {
			rcodes[name] = n
		}
	}
	if n := readCounter(h.m.rcodeOther); n > 0 {
		rcodes["other"] = n
	}
	return queries, rcodes
}

func readCounter(c prometheus.Counter) uint64 {
	var m dto.Metric
	if c == nil || c.Write(&m) != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}
