package routes

import (
	"context"
	"log/slog"
)

// libLogger returns the logger gobgp gets: log's handler, but gobgp's own
// records pass only at Warn and above unless log is enabled for Debug, when
// everything passes. gobgp reports every session step at Info ("Add a peer
// configuration", "Peer Up", ...), which the speaker already logs once in
// its own words; at Debug an operator wants gobgp's detail too. lvl is set
// to the same threshold so that gobgp skips building records it would drop.
func libLogger(log *slog.Logger, lvl *slog.LevelVar) *slog.Logger {
	h := log.Handler()
	min := slog.LevelWarn
	if h.Enabled(context.Background(), slog.LevelDebug) {
		min = slog.LevelDebug
	}
	lvl.Set(min)
	return slog.New(levelHandler{h: h, min: lvl})
}

// levelHandler drops records below min before its inner handler sees them.
type levelHandler struct {
	h   slog.Handler
	min slog.Leveler
}

func (l levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min.Level() && l.h.Enabled(ctx, lv)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < l.min.Level() {
		return nil
	}
	return l.h.Handle(ctx, r)
}

func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h: l.h.WithAttrs(as), min: l.min}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{h: l.h.WithGroup(name), min: l.min}
}
