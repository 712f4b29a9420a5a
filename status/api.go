package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// snapshot returns the current status, completed. The Backend is asked at
// most once per snapshotEvery: readers within that time, and readers that
// arrive while it is being built, share one (read-only) snapshot, so a flood
// of readers costs the runtime no more than a few snapshots a second.
func (s *Server) snapshot() Snapshot {
	s.snapMu.Lock()
	now := time.Now()
	if s.snapAt.IsZero() || now.Sub(s.snapAt) >= snapshotEvery || now.Before(s.snapAt) {
		snap := s.backend.Snapshot()
		snap.normalize(time.Now())
		s.snapLast, s.snapAt = snap, time.Now()
	}
	snap := s.snapLast
	s.snapMu.Unlock()
	snap.Ready = s.ready.Load()
	return snap
}

// staleSnapshot makes the next read ask the Backend again: after an
// override or a reload, a reader must not see the state from before it.
func (s *Server) staleSnapshot() {
	s.snapMu.Lock()
	s.snapAt = time.Time{}
	s.snapMu.Unlock()
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.snapshot())
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.hist.view(s.snapshot().Now))
}

// explainQuery is a validated explain request.
type explainQuery struct {
	Name   string `json:"name"`   // FQDN
	Type   string `json:"type"`   // mnemonic, upper case
	Client string `json:"client"` // IP address
}

// parseExplain reads name, type and client from the query string. type
// defaults to A; client defaults to the requester's own address.
func parseExplain(r *http.Request) (explainQuery, error) {
	q := r.URL.Query()
	name := strings.TrimSpace(q.Get("name"))
	if name == "" {
		return explainQuery{}, errors.New("name is required")
	}
	if _, ok := mdns.IsDomainName(name); !ok || len(name) > 254 {
		return explainQuery{}, fmt.Errorf("name %q is not a domain name", name)
	}
	qtype := strings.ToUpper(strings.TrimSpace(q.Get("type")))
	if qtype == "" {
		qtype = "A"
	}
	if _, ok := mdns.StringToType[qtype]; !ok {
		return explainQuery{}, fmt.Errorf("type %q is not a DNS record type", qtype)
	}
	client := strings.TrimSpace(q.Get("client"))
	var addr netip.Addr
	if client == "" {
		addr = remoteIP(r)
		if !addr.IsValid() {
			return explainQuery{}, errors.New("client is required")
		}
	} else {
		var err error
		if addr, err = netip.ParseAddr(client); err != nil {
			return explainQuery{}, fmt.Errorf("client %q is not an IP address", client)
		}
	}
	return explainQuery{Name: mdns.Fqdn(name), Type: qtype, Client: addr.Unmap().String()}, nil
}

// explainResult is what GET /api/v1/explain returns.
type explainResult struct {
	Query  explainQuery `json:"query"`
	Result any          `json:"result"`
	Text   string       `json:"text"` // the result's String() form
}

// explain runs a validated query through the backend.
func (s *Server) explain(ctx context.Context, q explainQuery) (explainResult, error) {
	ctx, cancel := context.WithTimeout(ctx, backendTimeout)
	defer cancel()
	v, err := s.backend.Explain(ctx, q.Name, q.Type, q.Client)
	if err != nil {
		return explainResult{}, err
	}
	return explainResult{Query: q, Result: v, Text: explainText(v)}, nil
}

// explainText is v's String() form, or its indented JSON.
func explainText(v any) string {
	if st, ok := v.(fmt.Stringer); ok {
		return st.String()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) {
	q, err := parseExplain(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.explain(r.Context(), q)
	if err != nil {
		s.backendError(w, "explain", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// overrideRequest is the body of POST /api/v1/override.
type overrideRequest struct {
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	State string `json:"state"`
}

// validate checks the request and canonicalizes an address key.
func (o *overrideRequest) validate() error {
	o.Kind = strings.ToLower(strings.TrimSpace(o.Kind))
	o.State = strings.ToLower(strings.TrimSpace(o.State))
	o.Key = strings.TrimSpace(o.Key)
	switch o.State {
	case OverrideUp, OverrideDown, OverrideDrain, OverrideClear:
	default:
		return fmt.Errorf("state %q: want up, down, drain or clear", o.State)
	}
	switch o.Kind {
	case KindAddress:
		a, err := netip.ParseAddr(o.Key)
		if err != nil {
			return fmt.Errorf("key %q is not an IP address", o.Key)
		}
		o.Key = a.Unmap().String()
	case KindDatacenter:
		if o.Key == "" || len(o.Key) > 255 || strings.ContainsFunc(o.Key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("key %q is not a datacenter name", o.Key)
		}
	default:
		return fmt.Errorf("kind %q: want address or datacenter", o.Kind)
	}
	return nil
}

func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		writeError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return
	}
	var req overrideRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: more than one JSON value")
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	if err := s.backend.Override(ctx, req.Kind, req.Key, req.State); err != nil {
		s.backendError(w, "override", err)
		return
	}
	s.staleSnapshot() // the next read shows the override
	s.log.Info("admin override", "kind", req.Kind, "key", req.Key, "state", req.State, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"result": "ok", "kind": req.Kind, "key": req.Key, "state": req.State})
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	s.log.Info("reload requested", "remote", r.RemoteAddr)
	if err := s.backend.Reload(ctx); err != nil {
		s.hist.note(Event{Time: time.Now(), Kind: EventReloadFailed, Text: "reload requested over the API failed: " + err.Error()})
		s.backendError(w, "reload", err)
		return
	}
	s.hist.note(Event{Time: time.Now(), Kind: EventReload, Text: "reload requested over the API"})
	s.staleSnapshot()
	writeJSON(w, http.StatusOK, map[string]string{"result": "ok"})
}

// backendError answers for a failed Backend call: 400 for ErrInvalid, 404
// for ErrNotFound, 504 for a timeout, 500 otherwise.
func (s *Server) backendError(w http.ResponseWriter, op string, err error) {
	code := errorCode(err)
	if code >= 500 {
		s.log.Warn("status api: "+op+" failed", "err", err)
	}
	writeError(w, code, op+": "+err.Error())
}

func errorCode(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
