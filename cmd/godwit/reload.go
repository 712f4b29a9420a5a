package main

import (
	"fmt"
)

// reloadAll re-reads the config and every file it names, builds fresh
// snapshots and swaps them in; on any error the running snapshots stay.
func (rt *runtime) reloadAll(why string) error {
	old := rt.cfg.Load()
	cfg, err := loadConfig(old.path)
	if err != nil {
		rt.log.Error("reload failed: config", "why", why, "err", err)
		rt.files.failed("config", old.path, err)
		return err
	}
	cfg.demo = old.demo
	cfg.Server.Listen, cfg.Status.Listen = old.Server.Listen, old.Status.Listen
	b, err := build(cfg)
	if err != nil {
		rt.log.Error("reload failed", "why", why, "err", err)
		rt.files.failed("config", old.path, err)
		b.close()
		return fmt.Errorf("reload: %w", err)
	}
	if err := rt.health.Update(cfg.Check, healthTargets(b.services), cfg.Health.StateFile); err != nil {
		rt.log.Error("reload failed: health", "why", why, "err", err)
		b.close()
		return err
	}
	rt.cfg.Store(cfg)
	rt.set.Store(b.set)
	rt.geo.Store(b.geo)
	rt.routes.SetStatic(b.routes)
	rt.files.loaded(cfg, b)
	rt.log.Info("reloaded", "why", why, "zones", len(b.zones), "services", len(b.services))
	return nil
}
