package cluster

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/godwit-dns/godwit/internal/duration"
)

// Engines.
const EngineNATS = "nats"

// Config is the [cluster] section of godwit.toml. An absent section (Engine
// "") means no cluster: the instance decides alone, as before.
//
// Credentials are never in the config itself, only the names of files that
// hold them; Load reads them into Secrets, which print as "[redacted]".
// URLs with a user or password in them are refused for the same reason.
type Config struct {
	Engine   string   `toml:"engine"`   // "nats"
	URLs     []string `toml:"urls"`     // nats://host:4222, tls://host:4222
	Name     string   `toml:"name"`     // cluster name: the buckets' prefix; only its keys are read
	Instance string   `toml:"instance"` // this instance's name, unique in the cluster
	Site     string   `toml:"site"`     // where it probes from (free text, for the status page)

	// Credentials: at most one of credentials_file (a NATS .creds file:
	// JWT and nkey seed), nkey_file (an nkey seed), or user_file together
	// with password_file (one line each).
	CredentialsFile string `toml:"credentials_file"`
	NkeyFile        string `toml:"nkey_file"`
	UserFile        string `toml:"user_file"`
	PasswordFile    string `toml:"password_file"`

	// TLS: tls_ca_file verifies the server; tls_cert_file and tls_key_file
	// are a client certificate. Any of them turns TLS on.
	TLSCAFile   string `toml:"tls_ca_file"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`

	// VerdictTTL is how long a verdict stays fresh after it was published
	// (default 30s). An instance republishes an unchanged verdict every
	// TTL/3 while its probes run, so a dead instance's votes go stale
	// within TTL. Keep it above twice the longest check interval.
	VerdictTTL Duration `toml:"verdict_ttl"`

	// Rule is the vote rule: "local" (default), "quorum" or "any"; see
	// health.Decide. Quorum is a count of vantage points, QuorumFraction a
	// share of those with fresh verdicts; set one with rule "quorum".
	Rule           string  `toml:"rule"`
	Quorum         int     `toml:"quorum"`
	QuorumFraction float64 `toml:"quorum_fraction"`

	// Replicas of the engine's buckets (1 or 3 for a JetStream cluster
	// across sites; default 1). Applied when a bucket is created or updated.
	Replicas int `toml:"replicas"`
}

// Defaults.
const (
	DefaultVerdictTTL = 30 * time.Second
	minVerdictTTL     = time.Second
)

// Enabled says whether the section asks for a cluster.
func (c Config) Enabled() bool { return c.Engine != "" }

// TTL returns VerdictTTL or its default.
func (c Config) TTL() time.Duration {
	if c.VerdictTTL == 0 {
		return DefaultVerdictTTL
	}
	return c.VerdictTTL.D()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the section; every problem is reported, joined.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if c.Engine != EngineNATS {
		bad("engine %q: want %q", c.Engine, EngineNATS)
	}
	if len(c.URLs) == 0 {
		bad("urls: at least one engine URL is required")
	}
	for _, s := range c.URLs {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			bad("urls: %q: %v", redactURL(s), err)
		case u.User != nil:
			bad("urls: %q: no user or password in URLs; use credentials_file, nkey_file or user_file/password_file", redactURL(s))
		case u.Scheme != "nats" && u.Scheme != "tls":
			bad("urls: %q: scheme must be nats or tls", s)
		case u.Host == "":
			bad("urls: %q: no host", s)
		}
	}
	if !nameRE.MatchString(c.Name) {
		bad("name %q: 1-64 letters, digits, _ or -", c.Name)
	}
	if c.Instance == "" || len(c.Instance) > 64 || strings.ContainsAny(c.Instance, " \t\r\n\x00") {
		bad("instance %q: required, at most 64 characters, no white space", c.Instance)
	}
	if len(c.Site) > 64 || strings.ContainsAny(c.Site, "\r\n\x00") {
		bad("site: at most 64 characters on one line")
	}
	n := 0
	for _, f := range []string{c.CredentialsFile, c.NkeyFile, c.UserFile} {
		if f != "" {
			n++
		}
	}
	if n > 1 {
		bad("credentials_file, nkey_file, user_file: set at most one")
	}
	if (c.UserFile == "") != (c.PasswordFile == "") {
		bad("user_file and password_file: set both or neither")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_cert_file and tls_key_file: set both or neither")
	}
	if ttl := c.VerdictTTL.D(); ttl != 0 && ttl < minVerdictTTL {
		bad("verdict_ttl %v: at least %v", ttl, minVerdictTTL)
	}
	switch c.Rule {
	case "", "local", "any":
		if c.Quorum != 0 || c.QuorumFraction != 0 {
			bad("quorum, quorum_fraction: only with rule = \"quorum\"")
		}
	case "quorum":
		switch {
		case c.Quorum < 0:
			bad("quorum %d: must be at least 1", c.Quorum)
		case c.QuorumFraction < 0 || c.QuorumFraction > 1 || math.IsNaN(c.QuorumFraction):
			bad("quorum_fraction %v: must be in (0, 1]", c.QuorumFraction)
		case c.Quorum > 0 && c.QuorumFraction > 0:
			bad("quorum and quorum_fraction: set one, not both")
		case c.Quorum == 0 && c.QuorumFraction == 0:
			bad("rule quorum: set quorum (a count) or quorum_fraction")
		}
	default:
		bad("rule %q: want local, quorum or any", c.Rule)
	}
	if c.Replicas != 0 && c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		bad("replicas %d: 1, 3 or 5", c.Replicas)
	}
	return errors.Join(errs...)
}

// redactURL hides a password a URL carries, for error messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "[redacted]" + s[i:]
		}
		return s
	}
	return u.Redacted()
}

// Secret is a credential read from a file. It never prints: fmt verbs, JSON
// and text marshalling all give "[redacted]".
type Secret struct{ v string }

const redacted = "[redacted]"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Format(f fmt.State, verb rune) { f.Write([]byte(redacted)) }
func (s Secret) reveal() string                { return s.v }
func (s Secret) empty() bool                   { return s.v == "" }

// Secrets are the credentials Config names, read by Load.
type Secrets struct {
	User, Password Secret
}

// LoadSecrets reads user_file and password_file (first line, trimmed). The
// nkey seed and .creds files are read by the NATS client itself.
func (c Config) LoadSecrets() (Secrets, error) {
	var s Secrets
	if c.UserFile == "" {
		return s, nil
	}
	u, err := readSecret(c.UserFile)
	if err != nil {
		return s, fmt.Errorf("user_file: %w", err)
	}
	p, err := readSecret(c.PasswordFile)
	if err != nil {
		return s, fmt.Errorf("password_file: %w", err)
	}
	return Secrets{User: Secret{u}, Password: Secret{p}}, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // names the path, never the content
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return line, nil
}

// Duration is the config duration type every section shares: a Go
// duration string ("30s").
type Duration = duration.Duration
