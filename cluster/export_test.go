package cluster

import (
	"testing"
	"time"
)

// For the external tests (package cluster_test), which wire the Cluster to
// health.Decide as the runtime does.

func StartNATSURL(t testing.TB) string { return startNATS(t).url() }

func ConfigForTest(url, instance string, ttl time.Duration) Config {
	return testConfig(url, instance, ttl)
}

func JoinForTest(t testing.TB, cfg Config) *Cluster {
	m := join(t, cfg)
	waitFor(t, m, "link up", 10*time.Second, linkIs(LinkUp))
	return m.Cluster
}
