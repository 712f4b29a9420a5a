package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// backend is the status server's view of the runtime: it reads the
// snapshots, never changes them, except through override and reload.
type backend struct{ rt *runtime }

func (b *backend) Snapshot() status.Snapshot {
	rt := b.rt
	s := status.Snapshot{Version: versionString(), Started: rt.started, Now: time.Now()}
	if set := rt.set.Load(); set != nil {
		for _, z := range set.Zones() {
			s.Zones = append(s.Zones, status.ZoneStatus{Name: z.Origin, File: z.File, Serial: z.Serial,
				Records: z.Records, OK: true})
		}
	}
	s.Files = rt.files.list()
	return s
}

func (b *backend) Explain(ctx context.Context, name, qtype, client string) (any, error) {
	qt, ok := mdns.StringToType[qtype]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", status.ErrInvalid, qtype)
	}
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %v", status.ErrInvalid, err)
	}
	env := b.rt.env()
	return zones.Explain(b.rt.set.Load(), name, qt, zones.Client{Addr: addr.Unmap(), SourceBits: -1}, &env), nil
}

func (b *backend) Override(ctx context.Context, kind, key, state string) error {
	if err := b.rt.health.SetOverride(kind, key, state); err != nil {
		return fmt.Errorf("%w: %v", status.ErrInvalid, err)
	}
	return nil
}

func (b *backend) Reload(ctx context.Context) error {
	return b.rt.reloadAll("api")
}
