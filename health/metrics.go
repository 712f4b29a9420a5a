package health

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	probes      *prometheus.CounterVec   // type, result
	duration    *prometheus.HistogramVec // type
	up          *prometheus.GaugeVec     // check
	state       *prometheus.GaugeVec     // check, address
	transitions *prometheus.CounterVec   // check
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_health_probes_total",
			Help: "Health probes run, by check type and result (ok, fail, unknown: the probe could not start, e.g. out of file descriptors).",
		}, []string{"type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "godwit_health_probe_duration_seconds",
			Help:    "Time taken by health probes, by check type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"type"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "godwit_health_up",
			Help: "Probed addresses that are up, by check.",
		}, []string{"check"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "godwit_health_state",
			Help: "State of each probed address: 1 up, 0 down, -1 no result yet.",
		}, []string{"check", "address"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_health_transitions_total",
			Help: "Changes between up and down, by check.",
		}, []string{"check"}),
	}
	if reg == nil {
		return m
	}
	m.probes = register(reg, m.probes)
	m.duration = register(reg, m.duration)
	m.up = register(reg, m.up)
	m.state = register(reg, m.state)
	m.transitions = register(reg, m.transitions)
	return m
}

// register registers c, or returns the collector already registered under
// its name (a second Checker on the same registry shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

func stateValue(s State) float64 {
	switch s {
	case StateUp:
		return 1
	case StateDown:
		return 0
	}
	return -1
}
