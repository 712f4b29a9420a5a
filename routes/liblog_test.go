package routes

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestLibLogger checks that gobgp's records obey the level of the logger
// Godwit passes in (Info chatter only at Debug) and that "Peer Down" reaches
// the speaker whatever the level.
func TestLibLogger(t *testing.T) {
	for _, tc := range []struct {
		level      slog.Level
		want, drop []string
	}{
		{slog.LevelError, []string{"an error"}, []string{"a warning", "Peer Up", "Peer Down", "detail"}},
		{slog.LevelInfo, []string{"an error", "a warning"}, []string{"Peer Up", "Peer Down", "detail"}},
		{slog.LevelDebug, []string{"an error", "a warning", "Peer Up", "Peer Down", "detail"}, nil},
	} {
		var buf bytes.Buffer
		var downs []netip.Addr
		var reasons []string
		lvl := new(slog.LevelVar)
		log := libLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})), lvl,
			func(a netip.Addr, reason string) { downs, reasons = append(downs, a), append(reasons, reason) })
		peer := log.With(slog.String("Topic", "Peer"), slog.String("Key", "::ffff:127.0.0.2"))
		peer.Error("an error")
		peer.Warn("a warning")
		peer.Info("Peer Up")
		peer.Info("Peer Down", slog.String("State", "BGP_FSM_ESTABLISHED"), slog.String("Reason", "hold timer expired"))
		peer.Debug("detail")
		out := buf.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("level %v: %q missing from\n%s", tc.level, w, out)
			}
		}
		for _, d := range tc.drop {
			if strings.Contains(out, d) {
				t.Errorf("level %v: %q logged:\n%s", tc.level, d, out)
			}
		}
		if len(downs) != 1 || downs[0] != netip.MustParseAddr("127.0.0.2") || reasons[0] != "hold timer expired" {
			t.Errorf("level %v: onDown got %v %q, want [127.0.0.2] and gobgp's reason", tc.level, downs, reasons)
		}
		if tc.level > slog.LevelDebug && lvl.Level() != slog.LevelInfo {
			t.Errorf("level %v: gobgp's level %v, want INFO (no Debug records built)", tc.level, lvl.Level())
		}
	}
}
