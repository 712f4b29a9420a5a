package routes

import (
	"context"
	"log/slog"
	"net/netip"
)

// libLogger returns the logger gobgp gets: log's handler, but gobgp's own
// records pass only at Warn and above unless log is enabled for Debug, when
// everything passes. gobgp reports every session step at Info ("Add a peer
// configuration", "Peer Up", ...), which the speaker already logs once in
// its own words; at Debug an operator wants gobgp's detail too. lvl is set
// to the threshold gobgp builds records for (Info at least, see below).
//
// onDown, when not nil, is called with the peer's address and gobgp's
// reason when gobgp logs "Peer Down": its session goroutine does so the moment the session leaves
// Established, before the server drops the peer's Adj-RIB-In and only then
// reports the state change to watchers (at 1.2M routes, tens of seconds of
// CPU later). This is the earliest signal gobgp v4.8.0 gives; the peer
// event that follows still purges, so a changed message in a later gobgp
// only makes the purge later, never wrong.
func libLogger(log *slog.Logger, lvl *slog.LevelVar, onDown func(a netip.Addr, reason string)) *slog.Logger {
	h := log.Handler()
	min := slog.LevelWarn
	if h.Enabled(context.Background(), slog.LevelDebug) {
		min = slog.LevelDebug
	}
	lvl.Set(slog.LevelInfo)
	if min < slog.LevelInfo {
		lvl.Set(min)
	}
	return slog.New(levelHandler{h: h, min: min, onDown: onDown})
}

// levelHandler drops records below min before its inner handler sees them,
// and watches for gobgp's "Peer Down" (the peer's address is the logger's
// "Key" attribute).
type levelHandler struct {
	h      slog.Handler
	min    slog.Level
	onDown func(netip.Addr, string)
	key    string // the "Key" attribute added by With
}

func (l levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	if l.onDown != nil && lv == slog.LevelInfo {
		return true // for Handle to see "Peer Down"
	}
	return lv >= l.min && l.h.Enabled(ctx, lv)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if l.onDown != nil && r.Message == "Peer Down" {
		if a, err := netip.ParseAddr(l.key); err == nil {
			reason := ""
			r.Attrs(func(at slog.Attr) bool {
				if at.Key == "Reason" {
					reason = at.Value.String()
					return false
				}
				return true
			})
			l.onDown(a.Unmap(), reason)
		}
	}
	if r.Level < l.min || !l.h.Enabled(ctx, r.Level) {
		return nil
	}
	return l.h.Handle(ctx, r)
}

func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := l
	n.h = l.h.WithAttrs(as)
	for _, a := range as {
		if a.Key == "Key" {
			n.key = a.Value.String()
		}
	}
	return n
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	n := l
	n.h = l.h.WithGroup(name)
	return n
}
