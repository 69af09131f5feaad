package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// Config is notifyd's configuration.
type Config struct {
	// RedisURL is redis://[user:pass@]host:port/db or rediss://… (REDIS_URL).
	RedisURL string
	// Accounts: the default account from LSQ_ACCESS_KEY/LSQ_SECRET_KEY, then the accounts file's.
	Accounts []Account
	// Concurrency is the number of workers per process (NOTIFYD_CONCURRENCY, default 10).
	Concurrency int
	// HTTPAddr is the health, metrics and UI listener; "" when off (NOTIFYD_HTTP_ADDR, default 127.0.0.1:8080).
	HTTPAddr string
	// ShutdownTimeout bounds a graceful shutdown (NOTIFYD_SHUTDOWN_TIMEOUT,
	// default 15s: above the LeadSquared call timeout, 10s, plus the
	// result's write; worker.New refuses a shorter one).
	ShutdownTimeout time.Duration
	// Scheduler is how bulk work reaches the workers (NOTIFYD_SCHEDULER: fair,
	// the default, or fifo, the old single line kept for comparison).
	Scheduler worker.Scheduler
	// ResendUnconfirmed sends again a notification whose 2xx answer is not
	// LeadSquared's, at the risk of a duplicate (NOTIFYD_RESEND_UNCONFIRMED,
	// default false: recorded as delivered_unconfirmed).
	ResendUnconfirmed bool
	// EventsMaxLen caps the event stream at about this many events, the
	// oldest trimmed first (NOTIFYD_EVENTS_MAXLEN, default
	// events.DefaultMaxLen, at least MinEventsMaxLen).
	EventsMaxLen int64
	// EventsWebhook posts every event to a URL; off when its URL is "".
	EventsWebhook Webhook
	// UI is the access control of the monitoring UI and the campaigns page.
	UI UI
	// LogLevel and LogFormat (LOG_LEVEL default info; LOG_FORMAT json or console, default json).
	LogLevel  zerolog.Level
	LogFormat string
}

// UI is the access control of the monitoring UI (PathMonitoring) and the
// campaigns page (PathCampaigns): one login for both, and ReadOnly turns
// off the changes of both.
type UI struct {
	User, Password string // NOTIFYD_UI_USER / NOTIFYD_UI_PASSWORD: basic auth, required off loopback
	ReadOnly       bool   // NOTIFYD_UI_READONLY: no pausing, deleting or cancelling from the UI (default false)
	// PrometheusURL is the Prometheus server the UI's metrics page queries,
	// e.g. http://prometheus:9090; "" hides that page (NOTIFYD_PROMETHEUS_URL).
	PrometheusURL string
}

// Webhook is where notifyd posts the events, signed. String never shows
// the secret, nor the URL's userinfo and query.
type Webhook struct {
	// URL receives a POST per event, an http(s) URL; "" turns the webhook
	// off (NOTIFYD_EVENTS_WEBHOOK_URL).
	URL string
	// Secret signs each request, at least MinWebhookSecret characters;
	// required with URL (NOTIFYD_EVENTS_WEBHOOK_SECRET).
	Secret string
}

func (w Webhook) String() string {
	if w.URL == "" {
		return "webhook off"
	}
	return "webhook " + events.RedactURL(w.URL)
}

// MinEventsMaxLen is the smallest NOTIFYD_EVENTS_MAXLEN: a shorter stream
// would trim events before its readers see them.
const MinEventsMaxLen = 1000

// MinWebhookSecret is the shortest NOTIFYD_EVENTS_WEBHOOK_SECRET.
const MinWebhookSecret = 16

// Account is one LeadSquared account as configured. String never shows its keys.
type Account struct {
	Name       string
	Region     string
	BaseURL    string
	SystemPath string
	AccessKey  string
	SecretKey  string
	Policy     worker.Policy
	// AllowInsecureHTTP permits an http:// BaseURL off loopback (a local fake
	// on a private network only; the keys travel in clear).
	AllowInsecureHTTP bool
}

func (a Account) String() string {
	return fmt.Sprintf("account %s (%s, limit %s, daily %d)", a.Name, cmp.Or(a.BaseURL, a.Region), a.Policy.Rate, a.Policy.DailyLimit)
}

// Client returns the account's LeadSquared client.
func (a Account) Client() (*leadsquared.Client, error) {
	c, err := leadsquared.NewClient(leadsquared.Config{
		Region: a.Region, BaseURL: a.BaseURL, SystemNotificationPath: a.SystemPath,
		AccessKey: a.AccessKey, SecretKey: a.SecretKey, AllowInsecureHTTP: a.AllowInsecureHTTP,
	})
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return c, nil
}

// Getenv reads a variable; os.Getenv in production, a map in tests.
type Getenv func(string) string

// FromEnv reads the configuration and reports every problem at once.
func FromEnv(getenv Getenv) (*Config, error) {
	p := &parser{getenv: getenv}
	c := &Config{
		RedisURL:          p.required(EnvRedisURL, "e.g. redis://127.0.0.1:6379/0"),
		Concurrency:       p.integer(EnvConcurrency, 10, 1),
		ShutdownTimeout:   p.duration(EnvShutdownTimeout, 15*time.Second),
		LogFormat:         cmp.Or(getenv(EnvLogFormat), "json"),
		ResendUnconfirmed: p.boolean(EnvResendUnconfirmed),
		UI: UI{User: getenv(EnvUIUser), Password: getenv(EnvUIPassword),
			ReadOnly: p.boolean(EnvUIReadOnly), PrometheusURL: p.httpURL(EnvPrometheusURL)},
	}
	c.HTTPAddr = cmp.Or(getenv(EnvHTTPAddr), DefaultHTTPAddr)
	if c.HTTPAddr == "off" {
		c.HTTPAddr = ""
	}
	c.EventsMaxLen = int64(p.integer(EnvEventsMaxLen, events.DefaultMaxLen, MinEventsMaxLen))
	c.EventsWebhook = p.webhook()
	c.LogLevel = p.level()
	c.Scheduler = worker.Scheduler(cmp.Or(getenv(EnvScheduler), string(worker.SchedulerFair)))
	if c.Scheduler != worker.SchedulerFair && c.Scheduler != worker.SchedulerFIFO {
		p.fail(EnvScheduler, "%q is not %s or %s", c.Scheduler, worker.SchedulerFair, worker.SchedulerFIFO)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		p.fail(EnvLogFormat, "%q is not json or console", c.LogFormat)
	}
	c.Accounts = p.accounts()
	return c, errors.Join(p.errs...)
}

// FromOS reads the configuration from the process environment.
func FromOS() (*Config, error) { return FromEnv(os.Getenv) }

type parser struct {
	getenv Getenv
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (p *parser) required(name, hint string) string {
	v := p.getenv(name)
	if v == "" {
		p.fail(name, "required (%s)", hint)
	}
	return v
}

func (p *parser) integer(name string, def, min int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		p.fail(name, "%q is not a whole number of at least %d", v, min)
		return def
	}
	return n
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(name, "%q is not a duration such as 10s or 500ms", v)
		return def
	}
	return d
}

func (p *parser) boolean(name string) bool {
	v := p.getenv(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q is not true or false", v)
	}
	return b
}

func (p *parser) httpURL(name string) string {
	v := p.getenv(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "%q is not an http(s) URL such as http://prometheus:9090", v)
		return ""
	}
	return strings.TrimSuffix(v, "/")
}

// webhook reads the events webhook: both variables or neither. Errors never
// repeat the secret, nor the URL's userinfo and query.
func (p *parser) webhook() Webhook {
	w := Webhook{URL: p.getenv(EnvEventsWebhookURL), Secret: p.getenv(EnvEventsWebhookSecret)}
	switch {
	case w.URL == "" && w.Secret != "":
		p.fail(EnvEventsWebhookSecret, "set, but %s is not: set the URL to turn the webhook on, or unset the secret", EnvEventsWebhookURL)
	case w.URL == "":
		return w
	case w.Secret == "":
		p.fail(EnvEventsWebhookSecret, "required with %s (the key that signs each request), e.g. the output of: openssl rand -hex 32", EnvEventsWebhookURL)
	case len(w.Secret) < MinWebhookSecret:
		p.fail(EnvEventsWebhookSecret, "%d characters, under the minimum of %d: use e.g. the output of: openssl rand -hex 32", len(w.Secret), MinWebhookSecret)
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(EnvEventsWebhookURL, "%q is not an http(s) URL such as https://hooks.example.com/lsqd", events.RedactURL(w.URL))
	}
	return w
}

func (p *parser) level() zerolog.Level {
	v := cmp.Or(p.getenv(EnvLogLevel), "info")
	l, err := zerolog.ParseLevel(strings.ToLower(v))
	if err != nil || v == "" {
		p.fail(EnvLogLevel, "%q is not one of trace, debug, info, warn, error", v)
		return zerolog.InfoLevel
	}
	return l
}

// accounts builds the default account from the environment, then adds the
// accounts file's.
func (p *parser) accounts() []Account {
	var out []Account
	access, secret := p.getenv(EnvAccessKey), p.getenv(EnvSecretKey)
	file := p.getenv(EnvAccountsFile)
	if access != "" || secret != "" || file == "" {
		if access == "" {
			p.fail(EnvAccessKey, "required (the default account's access key)")
		}
		if secret == "" {
			p.fail(EnvSecretKey, "required (the default account's secret key)")
		}
		a := Account{Name: tasks.DefaultAccount, Region: cmp.Or(p.getenv(EnvRegion), leadsquared.DefaultRegion),
			BaseURL: p.getenv(EnvAPIBaseURL), SystemPath: p.getenv(EnvSystemNotificationPath),
			AccessKey: access, SecretKey: secret, AllowInsecureHTTP: p.boolean(EnvAllowInsecureHTTP)}
		a.Policy = p.policy(p.getenv(EnvRateLimit), p.getenv(EnvRateMargin), p.getenv(EnvDailyLimit), p.getenv(EnvDailyReserve), "")
		p.checkRegion(EnvRegion, a)
		out = append(out, a)
	}
	if file != "" {
		more, err := LoadAccounts(file, p.getenv)
		if err != nil {
			p.errs = append(p.errs, err)
		}
		for _, a := range more {
			if a.Name == tasks.DefaultAccount && len(out) > 0 && out[0].Name == tasks.DefaultAccount {
				p.fail(EnvAccountsFile, "account %q is already defined by %s; rename it in the file", a.Name, EnvAccessKey)
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

func (p *parser) checkRegion(field string, a Account) {
	if a.BaseURL != "" {
		return
	}
	if _, err := leadsquared.RegionHost(a.Region); err != nil {
		p.fail(field, "%v", err)
	}
}

// policy parses an account's limit; prefix names the field in errors
// ("" for the environment, "accounts.NAME." for the file).
func (p *parser) policy(rate, margin, daily, reserve, prefix string) worker.Policy {
	pol := worker.DefaultPolicy
	name := func(env, key string) string {
		if prefix == "" {
			return env
		}
		return prefix + key
	}
	if rate != "" {
		r, err := ParseRate(rate)
		if err != nil {
			p.fail(name(EnvRateLimit, "rate_limit"), "%v", err)
		}
		pol.Rate = r
	}
	if margin != "" {
		d, err := time.ParseDuration(margin)
		if err != nil || d < 0 {
			p.fail(name(EnvRateMargin, "rate_margin"), "%q is not a duration such as 100ms", margin)
		} else {
			pol.Margin = d
		}
	}
	if daily != "" {
		n, err := strconv.Atoi(daily)
		if err != nil || n < 0 {
			p.fail(name(EnvDailyLimit, "daily_limit"), "%q is not a whole number (0: no daily limit)", daily)
		}
		pol.DailyLimit = n
	}
	pol.DailyReserve = pol.DailyLimit / 10
	if reserve != "" {
		n, err := strconv.Atoi(reserve)
		if err != nil || n < 0 || (pol.DailyLimit > 0 && n >= pol.DailyLimit) {
			p.fail(name(EnvDailyReserve, "daily_reserve"), "%q must be a whole number below the daily limit %d", reserve, pol.DailyLimit)
		}
		pol.DailyReserve = n
	}
	return pol
}

// ParseRate parses "N/duration" (25/5s, 10/1s, 100/1m) or a plan name
// (leadsquared.Plans).
func ParseRate(s string) (worker.Rate, error) {
	s = strings.TrimSpace(s)
	if l, ok := leadsquared.PlanLimit(s); ok {
		return l, nil
	}
	calls, window, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(calls))
	if !ok || err != nil || n < 1 {
		var names []string
		for _, p := range leadsquared.Plans() {
			names = append(names, p.Name)
		}
		return worker.Rate{}, fmt.Errorf("%q is not N/duration (e.g. 25/5s) or a plan (%s)", s, strings.Join(names, ", "))
	}
	window = strings.TrimSpace(window)
	if window != "" && (window[0] < '0' || window[0] > '9') {
		window = "1" + window // "10/s" means per second
	}
	d, err := time.ParseDuration(window)
	if err != nil || d <= 0 {
		return worker.Rate{}, fmt.Errorf("%q: the window %q is not a positive duration such as 5s", s, window)
	}
	return worker.Rate{Calls: n, Window: d}, nil
}
