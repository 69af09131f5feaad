package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestFromEnv_DefaultsAndDefaultAccount(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{EnvRedisURL: "redis://x:6379/0", EnvAccessKey: "a", EnvSecretKey: "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 10 || c.HTTPAddr != DefaultHTTPAddr || c.ShutdownTimeout != 15*time.Second || c.LogFormat != "json" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.Accounts) != 1 || c.Accounts[0].Name != "default" || c.Accounts[0].Region != "sg" ||
		c.Accounts[0].Policy.Rate != (worker.Rate{Calls: 25, Window: 5 * time.Second}) {
		t.Fatalf("default account: %+v", c.Accounts)
	}
}

func TestFromEnv_ReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(env(map[string]string{EnvConcurrency: "zero", EnvRegion: "mars", EnvRateLimit: "fast",
		EnvAccessKey: "a", EnvSecretKey: "s", EnvLogFormat: "xml"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{EnvRedisURL, EnvConcurrency, EnvRegion, EnvRateLimit, EnvLogFormat} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), "=s") {
		t.Errorf("error shows a key: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]worker.Rate{
		"25/5s": {Calls: 25, Window: 5 * time.Second}, "pro": {Calls: 5, Window: 5 * time.Second},
		"Lite": {Calls: 2, Window: 5 * time.Second}, "10/s": {Calls: 10, Window: time.Second},
		"100/1m": {Calls: 100, Window: time.Minute},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "25", "0/5s", "25/0s", "x/5s", "25/5parsecs", "gold"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q): no error", bad)
		}
	}
}

func TestLoadAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	good := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(good, []byte(`accounts:
  acme:
    region: us11
    access_key_env: ACME_ACCESS
    secret_key_file: `+secretFile+`
    rate_limit: pro
    daily_limit: 1000
`), 0o600)
	c, err := FromEnv(env(map[string]string{EnvRedisURL: "redis://x", EnvAccountsFile: good, "ACME_ACCESS": "ak"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) != 1 {
		t.Fatalf("accounts: %v", c.Accounts)
	}
	a := c.Accounts[0]
	if a.Name != "acme" || a.AccessKey != "ak" || a.SecretKey != "s3cret" || a.Policy.Rate.Calls != 5 ||
		a.Policy.DailyLimit != 1000 || a.Policy.DailyReserve != 100 {
		t.Fatalf("acme: %+v", a)
	}
	if strings.Contains(a.String(), "s3cret") || strings.Contains(a.String(), "ak") {
		t.Fatalf("String shows a key: %s", a)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("accounts:\n  x:\n    regoin: us11\n"), 0o600)
	if _, err := LoadAccounts(bad, env(nil)); err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Fatalf("unknown field: %v", err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	os.WriteFile(missing, []byte("accounts:\n  x:\n    access_key_env: NOPE\n    secret_key: s\n    rate_limit: 5/0s\n"), 0o600)
	_, err = LoadAccounts(missing, env(nil))
	if err == nil || !strings.Contains(err.Error(), "accounts.x.access_key_env") || !strings.Contains(err.Error(), "accounts.x.rate_limit") {
		t.Fatalf("want both problems named: %v", err)
	}
}

func TestFromEnv_Events(t *testing.T) {
	t.Parallel()
	base := map[string]string{EnvRedisURL: "redis://x:6379/0", EnvAccessKey: "a", EnvSecretKey: "s"}
	with := func(kv ...string) Getenv {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return env(m)
	}
	const secret = "whsec-0123456789abcdef"

	c, err := FromEnv(with())
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsMaxLen != events.DefaultMaxLen || c.EventsWebhook != (Webhook{}) {
		t.Fatalf("defaults: maxlen %d, %v", c.EventsMaxLen, c.EventsWebhook)
	}
	c, err = FromEnv(with(EnvEventsMaxLen, "5000", EnvEventsWebhookURL, "https://u:urlpass@hooks.test/lsqd?token=qtoken",
		EnvEventsWebhookSecret, secret))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsMaxLen != 5000 || c.EventsWebhook.URL != "https://u:urlpass@hooks.test/lsqd?token=qtoken" || c.EventsWebhook.Secret != secret {
		t.Fatalf("set: maxlen %d, %+v", c.EventsMaxLen, c.EventsWebhook)
	}
	if s := fmt.Sprintf("%v %+v", c.EventsWebhook, c); strings.Contains(s, secret) || strings.Contains(s, "urlpass") || strings.Contains(s, "qtoken") {
		t.Errorf("printing the config shows a credential: %s", s)
	}

	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"MaxLenTooSmall", []string{EnvEventsMaxLen, "10"}, EnvEventsMaxLen + `: "10" is not a whole number of at least 1000`},
		{"SecretWithoutURL", []string{EnvEventsWebhookSecret, secret}, EnvEventsWebhookSecret + ": set, but " + EnvEventsWebhookURL + " is not"},
		{"URLWithoutSecret", []string{EnvEventsWebhookURL, "https://hooks.test"}, EnvEventsWebhookSecret + ": required with " + EnvEventsWebhookURL},
		{"ShortSecret", []string{EnvEventsWebhookURL, "https://hooks.test", EnvEventsWebhookSecret, "short-s3cret"}, "12 characters, under the minimum of 16"},
		{"NotHTTP", []string{EnvEventsWebhookURL, "ftp://u:urlpass@hooks.test/?token=qtoken", EnvEventsWebhookSecret, secret},
			EnvEventsWebhookURL + `: "ftp://xxxxx@hooks.test/?xxxxx" is not an http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := FromEnv(with(tc.env...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			for _, leak := range []string{secret, "short-s3cret", "urlpass", "qtoken"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q: %v", leak, err)
				}
			}
		})
	}
}
