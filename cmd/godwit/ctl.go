package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godwit-dns/godwit/status"
)

// ctlUsage lists ctl's own commands.
const ctlUsage = `commands:
  status                                       version, traffic, datacenters, services, warnings
  reload                                       re-read the config and every file it names
  override list                                the admin overrides in force
  override set address|datacenter KEY up|down|drain
  override clear address|datacenter KEY
  explain [-client IP] NAME [TYPE]             how the live server answers NAME for a client`

// cmdCtl talks to a running server through its status API (the same calls
// as curl would make), printing for people by default and JSON with -json.
func cmdCtl(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("ctl", stdout)
	addr := fs.String("status", envOr("GODWIT_STATUS", "127.0.0.1:8053"), "the server's status address, host:port or URL (env GODWIT_STATUS)")
	token := fs.String("token", "", "bearer token for reload and override (default: env GODWIT_TOKEN)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	client := fs.String("client", "", "explain: the client's address, or ADDR/N for a query carrying ECS ADDR/N (default: this host as the server sees it)")
	usage := fs.Usage
	fs.Usage = func() { usage(); fmt.Fprintln(fs.Output(), "\n"+ctlUsage) }
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("GODWIT_TOKEN")
	}
	c := &ctlClient{base: *addr, token: *token, http: &http.Client{Timeout: 30 * time.Second}}
	if !strings.Contains(c.base, "://") {
		c.base = "http://" + c.base
	}
	c.base = strings.TrimRight(c.base, "/")
	if len(rest) == 0 {
		return usagef("name a command:\n%s", ctlUsage)
	}
	var out any
	switch verb, rest := rest[0], rest[1:]; verb {
	case "status":
		var s status.Snapshot
		raw, err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &s)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeRaw(stdout, raw)
		}
		printStatus(stdout, &s)
		return nil
	case "reload":
		raw, err := c.do(ctx, http.MethodPost, "/api/v1/reload", nil, &out)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeRaw(stdout, raw)
		}
		fmt.Fprintln(stdout, "reloaded")
		return nil
	case "override":
		return c.override(ctx, rest, *asJSON, stdout)
	case "explain":
		if len(rest) < 1 || len(rest) > 2 {
			return usagef("explain NAME [TYPE]")
		}
		v := url.Values{"name": {rest[0]}}
		if len(rest) == 2 {
			v.Set("type", rest[1])
		}
		if *client != "" {
			v.Set("client", *client)
		}
		var res struct {
			Text string `json:"text"`
		}
		raw, err := c.do(ctx, http.MethodGet, "/api/v1/explain?"+v.Encode(), nil, &res)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeRaw(stdout, raw)
		}
		fmt.Fprint(stdout, res.Text)
		return nil
	default:
		return usagef("unknown ctl command %q\n%s", verb, ctlUsage)
	}
}

func (c *ctlClient) override(ctx context.Context, args []string, asJSON bool, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("override list | set KIND KEY STATE | clear KIND KEY")
	}
	var req struct {
		Kind  string `json:"kind"`
		Key   string `json:"key"`
		State string `json:"state"`
	}
	switch args[0] {
	case "list":
		var s status.Snapshot
		if _, err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &s); err != nil {
			return err
		}
		ovs := overridesOf(&s)
		if asJSON {
			return json.NewEncoder(stdout).Encode(ovs)
		}
		if len(ovs) == 0 {
			fmt.Fprintln(stdout, "no overrides")
		}
		for _, o := range ovs {
			from := ""
			if o.Origin != "" {
				from = " (set on " + o.Origin + ")"
			}
			fmt.Fprintf(stdout, "%-10s %-40s %s%s\n", o.Kind, o.Key, o.State, from)
		}
		return nil
	case "set":
		if len(args) != 4 {
			return usagef("override set address|datacenter KEY up|down|drain")
		}
		req.Kind, req.Key, req.State = args[1], args[2], args[3]
	case "clear":
		if len(args) != 3 {
			return usagef("override clear address|datacenter KEY")
		}
		req.Kind, req.Key, req.State = args[1], args[2], status.OverrideClear
	default:
		return usagef("override %q: want list, set or clear", args[0])
	}
	body, _ := json.Marshal(req)
	var out any
	raw, err := c.do(ctx, http.MethodPost, "/api/v1/override", body, &out)
	if err != nil {
		return err
	}
	if asJSON {
		return writeRaw(stdout, raw)
	}
	fmt.Fprintf(stdout, "%s %s: %s\n", req.Kind, req.Key, req.State)
	return nil
}

// ctlOverride is one override in force, as `ctl override list` shows it.
type ctlOverride struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	State  string `json:"state"`
	Origin string `json:"origin,omitempty"` // the cluster instance it was set on
}

// overridesOf lists the overrides a status snapshot shows, datacenters
// first, each address once.
func overridesOf(s *status.Snapshot) []ctlOverride {
	var out []ctlOverride
	for _, d := range s.Datacenters {
		if d.Override != "" {
			out = append(out, ctlOverride{status.KindDatacenter, d.Name, d.Override, d.OverrideOrigin})
		}
	}
	seen := map[string]bool{}
	for _, svc := range s.Services {
		for _, t := range svc.Targets {
			for _, a := range t.Addresses {
				if k := a.Address.String(); a.Override != "" && !seen[k] {
					seen[k] = true
					out = append(out, ctlOverride{status.KindAddress, k, a.Override, a.OverrideOrigin})
				}
			}
		}
	}
	return out
}

type ctlClient struct {
	base, token string
	http        *http.Client
}

// do sends one API request and decodes the JSON answer into v; an answer
// other than 2xx is an error with the API's message.
func (c *ctlClient) do(ctx context.Context, method, path string, body []byte, v any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (is godwit running? -status names its status address)", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return raw, nil
}

func writeRaw(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		b.Reset()
		b.Write(raw)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// printStatus is `ctl status` for people.
func printStatus(w io.Writer, s *status.Snapshot) {
	fmt.Fprintf(w, "godwit %s, up %s, %.1f queries/s, %d queries since start\n",
		s.Version, s.Now.Sub(s.Started).Round(time.Second), s.QPS, s.Queries)
	if c := s.Cluster; c != nil {
		fmt.Fprintf(w, "cluster %s (%s) as %s: link %s since %s, rule %s\n", c.Name, c.Engine, c.Instance, c.Link,
			c.LinkSince.Format(time.RFC3339), c.Rule)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDATACENTER\tSTATE\tHEALTHY\tSHARE\tOVERRIDE")
	for _, d := range s.Datacenters {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%.0f%%\t%s\n", d.Name, d.State, d.Healthy, d.Addresses, 100*d.Share, d.Override)
	}
	fmt.Fprintln(tw, "\nSERVICE\tPOLICY\tSTATE\tTTL")
	for _, svc := range s.Services {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", svc.Name, svc.Policy, svc.State, svc.TTL)
	}
	if len(s.Peers) > 0 {
		fmt.Fprintln(tw, "\nBGP PEER\tDATACENTER\tSTATE\tPREFIXES")
		for _, p := range s.Peers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", p.Address, p.Datacenter, p.State, p.Accepted)
		}
	}
	tw.Flush()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
