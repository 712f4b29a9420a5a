package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigGood(t *testing.T) {
	var f struct {
		Cluster Config `toml:"cluster"`
	}
	md, err := toml.DecodeFile("testdata/cluster.good.toml", &f)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	c := f.Cluster
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Enabled() || c.TTL() != 20*time.Second || c.Quorum != 2 || c.Replicas != 3 || len(c.URLs) != 2 {
		t.Errorf("decoded %+v", c)
	}
	s, err := c.LoadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if s.User.reveal() != "godwit" || s.Password.reveal() != "s3cr3t-pa55" {
		t.Errorf("secrets read wrong: %q %q", s.User.reveal(), s.Password.reveal())
	}
	// The secret never prints, whatever the verb or encoding.
	j, _ := json.Marshal(struct {
		S Secrets
		C Config
	}{s, c})
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s.Password, s.Password, s.Password), string(j)} {
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "godwit\"") {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no [redacted] in %s", out)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if c.Enabled() || c.Validate() != nil {
		t.Fatal("empty section: want disabled and valid")
	}
	if c.TTL() != DefaultVerdictTTL {
		t.Errorf("TTL %v", c.TTL())
	}
}

func TestConfigBad(t *testing.T) {
	ok := Config{Engine: "nats", URLs: []string{"nats://127.0.0.1:4222"}, Name: "c", Instance: "a"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Engine = "etcd" }, `engine "etcd"`},
		{func(c *Config) { c.URLs = nil }, "urls: at least one"},
		{func(c *Config) { c.URLs = []string{"nats://u:hunter2@h:4222"} }, "no user or password in URLs"},
		{func(c *Config) { c.URLs = []string{"http://h:4222"} }, "scheme must be nats or tls"},
		{func(c *Config) { c.URLs = []string{"nats://"} }, "no host"},
		{func(c *Config) { c.Name = "a.b" }, `name "a.b"`},
		{func(c *Config) { c.Name = "" }, `name ""`},
		{func(c *Config) { c.Instance = "" }, "instance"},
		{func(c *Config) { c.Instance = "a b" }, "instance"},
		{func(c *Config) { c.Site = "x\ny" }, "site"},
		{func(c *Config) { c.CredentialsFile, c.NkeyFile = "a", "b" }, "set at most one"},
		{func(c *Config) { c.UserFile = "u" }, "user_file and password_file"},
		{func(c *Config) { c.TLSCertFile = "c" }, "tls_cert_file and tls_key_file"},
		{func(c *Config) { c.VerdictTTL = Duration(time.Millisecond) }, "verdict_ttl"},
		{func(c *Config) { c.Rule = "majority" }, `rule "majority"`},
		{func(c *Config) { c.Rule = "quorum" }, "set quorum"},
		{func(c *Config) { c.Rule, c.Quorum, c.QuorumFraction = "quorum", 2, 0.5 }, "not both"},
		{func(c *Config) { c.Rule, c.QuorumFraction = "quorum", 1.5 }, "quorum_fraction"},
		{func(c *Config) { c.Rule, c.Quorum = "quorum", -1 }, "quorum -1"},
		{func(c *Config) { c.Rule, c.Quorum = "any", 2 }, "only with rule"},
		{func(c *Config) { c.Replicas = 2 }, "replicas 2"},
	}
	for _, tc := range tests {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", c, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	// Every problem at once.
	bad := Config{Engine: "nats"}
	if err := bad.Validate(); err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("want all problems joined, got %v", err)
	}
}

func TestLoadSecretsErrors(t *testing.T) {
	dir := t.TempDir()
	c := Config{UserFile: dir + "/nope", PasswordFile: dir + "/nope"}
	if _, err := c.LoadSecrets(); err == nil || !strings.Contains(err.Error(), "user_file") {
		t.Errorf("missing file: %v", err)
	}
	c = Config{UserFile: "testdata/user", PasswordFile: "testdata/cluster.good.toml"}
	s, err := c.LoadSecrets()
	if err != nil || s.Password.reveal() != "[cluster]" { // first line only
		t.Errorf("first line: %q, %v", s.Password.reveal(), err)
	}
}
