package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// fakeBackend serves a fixed snapshot and records the actions asked of it.
type fakeBackend struct {
	snap Snapshot

	mu        sync.Mutex
	overrides []string // "kind key state"
	reloads   int
	reloadErr error
}

func (f *fakeBackend) Snapshot() Snapshot { return f.snap }

// fakeExplanation mimics what the command returns: JSON fields plus a text form.
type fakeExplanation struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Client string   `json:"client"`
	Steps  []string `json:"steps"`
}

func (e fakeExplanation) String() string {
	return fmt.Sprintf("query     %s %s from %s\n", e.Name, e.Type, e.Client) + strings.Join(e.Steps, "\n") + "\n"
}

func (f *fakeBackend) Explain(ctx context.Context, name, qtype, client string) (any, error) {
	switch name {
	case "invalid.gslb.example.test.":
		return nil, fmt.Errorf("no such service: %w", ErrInvalid)
	case "broken.gslb.example.test.":
		return nil, errors.New("backend broke")
	}
	return fakeExplanation{Name: name, Type: qtype, Client: client, Steps: []string{
		"location  GB, Europe (EU) 51.51,-0.09 from network 81.2.69.128/26 (GeoIP2-City-Test)",
		"route     no route table match",
		"policy    geo: rank datacenters by distance",
		"ranking   1. ams     357 km  up (5/5)",
		"          2. fra     637 km  degraded (2/3)",
		"          3. iad    5903 km  down (0/3), skipped",
		"answer    192.0.2.10 192.0.2.11 (answers = 2, from ams)",
		"ttl       30 (nothing in doubt for ams)",
		"ecs scope /26",
	}}, nil
}

func (f *fakeBackend) Override(ctx context.Context, kind, key, state string) error {
	if key == "nowhere" {
		return fmt.Errorf("datacenter %q: %w", key, ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.overrides = append(f.overrides, kind+" "+key+" "+state)
	return nil
}

func (f *fakeBackend) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

func (f *fakeBackend) calls() (overrides []string, reloads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.overrides...), f.reloads
}

// loadSnapshot reads testdata/status/snapshot.json.
func loadSnapshot(t testing.TB) Snapshot {
	t.Helper()
	const file = "../testdata/status/snapshot.json"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

func newFake(t testing.TB) *fakeBackend { return &fakeBackend{snap: loadSnapshot(t)} }
