package leadsquared

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultSystemNotificationPath is the path of the Converse system
// notification API. It is a placeholder: LeadSquared publishes this path only
// as an image, so check it against your account's API docs (Converse > System
// Notification to Users) and set Config.SystemNotificationPath (notifyd:
// LSQ_SYSTEM_NOTIFICATION_PATH) if it differs.
const DefaultSystemNotificationPath = "/v2/Converse.svc/SystemNotification.Send"

// PushPath is the path of the push browser notification API.
const PushPath = "/v2/Notifier.svc/Browser.Push"

// Header names the client sends. LeadSquared documents the key headers with
// this exact spelling; the client sends them so over HTTP/1.1 (HTTP/2 lower-cases
// every header name, and HTTP header names are case-insensitive anyway).
const (
	AccessKeyHeader = "x-LSQ-AccessKey"
	SecretKeyHeader = "x-LSQ-SecretKey"
	// RequestIDHeader carries the id set with WithRequestID.
	RequestIDHeader = "X-Request-ID"
)

// DefaultTimeout is the per-call timeout used when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Version is the project's version, shown in the default User-Agent. Release
// builds set it with -ldflags "-X github.com/lsqdispatch/lsqdispatch/leadsquared.Version=v1.2.3".
var Version = "dev"

// Ops name the calls in Error.Op.
const (
	opSystem   = "system"
	opPush     = "push"
	opKeyCheck = "keycheck"
)

// Config configures a Client. The zero value of every field but the keys
// means its default.
type Config struct {
	// Region is the account's LeadSquared region (see Regions). Default "sg".
	Region string
	// BaseURL overrides Region, e.g. "https://api-us11.leadsquared.com" or a
	// local fake such as "http://127.0.0.1:8089". It must use https unless its
	// host is a loopback address (127.0.0.0/8, ::1, localhost), and must hold
	// no user, password, query or fragment. A path prefix is kept. Default: the
	// Region's host.
	BaseURL string
	// SystemNotificationPath is the path of the Converse system notification
	// API; it must start with "/". Default DefaultSystemNotificationPath,
	// which must be checked against the account's API docs.
	SystemNotificationPath string
	// AccessKey and SecretKey are the LeadSquared user's API keys: required.
	// They are sent only in the x-LSQ-AccessKey and x-LSQ-SecretKey headers.
	AccessKey string
	SecretKey string
	// Timeout bounds each call, from sending to reading the whole answer.
	// Default DefaultTimeout (10s).
	Timeout time.Duration
	// HTTPClient sends the calls. The Client uses a copy that never follows
	// redirects (a redirect would carry the keys to another host). Default: a
	// client of its own with a keep-alive transport tuned for many concurrent
	// calls to one host.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent. Default
	// "lsqdispatch/<Version> (+https://github.com/lsqdispatch/lsqdispatch)".
	UserAgent string
	// AllowInsecureHTTP permits an http:// BaseURL off loopback, for a local
	// fake on a private network (lsq-sandbox in docker-compose). The keys then
	// travel in clear: never set it for real LeadSquared keys.
	AllowInsecureHTTP bool
}

// String describes the configuration without its keys.
func (c Config) String() string {
	return fmt.Sprintf("leadsquared.Config{Region:%q BaseURL:%q SystemNotificationPath:%q AccessKey:%s SecretKey:%s Timeout:%s UserAgent:%q}",
		c.Region, c.BaseURL, c.SystemNotificationPath, redactedMark(c.AccessKey), redactedMark(c.SecretKey), c.Timeout, c.UserAgent)
}

// GoString is String, so that %#v cannot print the keys either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without its keys.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("region", c.Region),
		slog.String("base_url", c.BaseURL),
		slog.String("system_notification_path", c.SystemNotificationPath),
		slog.String("access_key", redactedMark(c.AccessKey)),
		slog.String("secret_key", redactedMark(c.SecretKey)),
		slog.Duration("timeout", c.Timeout),
	)
}

func redactedMark(key string) string {
	if key == "" {
		return "unset"
	}
	return "[redacted]"
}

// Client calls LeadSquared's notification APIs with one account's keys. It is
// safe for concurrent use; create one per account and reuse it.
type Client struct {
	base       string // scheme://host[/prefix], no trailing slash
	systemPath string
	accessKey  string
	secretKey  string
	timeout    time.Duration
	userAgent  string
	hc         *http.Client
	now        func() time.Time // for Retry-After dates; tests replace it
}

// NewClient fills cfg's defaults, validates it and returns a Client. Every
// problem in cfg is reported in one error, which never holds a key.
func NewClient(cfg Config) (*Client, error) {
	cfg.SystemNotificationPath = cmp.Or(cfg.SystemNotificationPath, DefaultSystemNotificationPath)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, "lsqdispatch/"+Version+" (+https://github.com/lsqdispatch/lsqdispatch)")

	var problems []string
	problems = append(problems, checkKey("AccessKey", cfg.AccessKey)...)
	problems = append(problems, checkKey("SecretKey", cfg.SecretKey)...)

	var base string
	if strings.TrimSpace(cfg.BaseURL) != "" {
		b, err := normalizeBaseURL(cfg.BaseURL, cfg.AllowInsecureHTTP)
		if err != "" {
			problems = append(problems, err)
		}
		base = b
	} else {
		host, err := RegionHost(cfg.Region)
		if err != nil {
			problems = append(problems, "Config.Region: "+strings.TrimPrefix(err.Error(), "leadsquared: "))
		}
		base = "https://" + host
	}

	if p := cfg.SystemNotificationPath; !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
		problems = append(problems, fmt.Sprintf("Config.SystemNotificationPath %q must be a path starting with \"/\" without query or spaces, e.g. %q", p, DefaultSystemNotificationPath))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("Config.Timeout %s must be positive (0 means %s)", cfg.Timeout, DefaultTimeout))
	}
	if !printableASCII(cfg.UserAgent) {
		problems = append(problems, "Config.UserAgent must be printable ASCII")
	}
	if len(problems) > 0 {
		// A key pasted into the wrong field must not reach the error either.
		msg := "leadsquared: invalid Config: " + strings.Join(problems, "; ")
		return nil, errors.New(redactKeys(msg, cfg.SecretKey, cfg.AccessKey))
	}

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Transport = newTransport()
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	return &Client{
		base:       base,
		systemPath: cfg.SystemNotificationPath,
		accessKey:  cfg.AccessKey,
		secretKey:  cfg.SecretKey,
		timeout:    cfg.Timeout,
		userAgent:  cfg.UserAgent,
		hc:         &hc,
		now:        time.Now,
	}, nil
}

// newTransport returns the default transport: keep-alive connections, enough
// idle ones per host for a busy worker, and bounded dial and TLS handshakes.
// The whole call is bounded by Config.Timeout through its context.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// checkKey reports what is wrong with a key, without showing it.
func checkKey(field, key string) []string {
	switch {
	case key == "":
		return []string{"Config." + field + " is required"}
	case strings.TrimSpace(key) != key:
		return []string{"Config." + field + " has leading or trailing white space (check the environment file)"}
	case !printableASCII(key):
		return []string{"Config." + field + " must be printable ASCII"}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// normalizeBaseURL checks a Config.BaseURL and returns it without a trailing
// slash, or a problem. Problems never echo the value: it might hold a key.
func normalizeBaseURL(raw string, allowHTTP bool) (string, string) {
	const fix = "e.g. https://api-us11.leadsquared.com, or http://127.0.0.1:8089 for a local fake"
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", "Config.BaseURL is not a valid URL; want " + fix
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", "Config.BaseURL must start with https://; want " + fix
	case u.Host == "" || u.Hostname() == "":
		return "", "Config.BaseURL has no host; want " + fix
	case u.User != nil:
		return "", "Config.BaseURL must not hold a user or password: put the keys in Config.AccessKey and Config.SecretKey"
	case u.RawQuery != "" || u.ForceQuery:
		return "", "Config.BaseURL must not hold a query string: put the keys in Config.AccessKey and Config.SecretKey (they are sent as headers)"
	case u.Fragment != "":
		return "", "Config.BaseURL must not hold a fragment"
	case scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()):
		return "", fmt.Sprintf("Config.BaseURL uses http:// with host %q, but the keys may only travel over HTTPS: use https://, or http:// only with a loopback host (127.0.0.0/8, ::1, localhost)", u.Hostname())
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), ""
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Timeout returns the bound of each call (Config.Timeout, or DefaultTimeout).
func (c *Client) Timeout() time.Duration { return c.timeout }

// BaseURL returns the scheme, host and path prefix the client calls, e.g.
// "https://api.leadsquared.com".
func (c *Client) BaseURL() string { return c.base }

// String describes the client without its keys. (A value receiver, so that
// printing a Client value cannot show the keys either.)
func (c Client) String() string { return "leadsquared.Client{BaseURL:" + c.base + "}" }

// GoString is String, so that %#v cannot print the keys either.
func (c Client) GoString() string { return c.String() }

// SendSystem sends a Converse system notification and returns LeadSquared's
// MessageID (empty if a successful answer carried none). The body is
// validated first: an invalid one returns its *ValidationError and is never
// sent. An answer that is not "Success":true is an *Error, as is any other
// failure.
func (c *Client) SendSystem(ctx context.Context, n SystemNotification) (messageID string, err error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	a, err := c.call(ctx, opSystem, http.MethodPost, c.systemPath, &n)
	if err != nil {
		return "", err
	}
	var r SystemResult
	if err := c.decode(opSystem, a, &r, `{"MessageID":"…","Success":true}`, func() bool { return a.verdict.hasSuccess }); err != nil {
		return "", err
	}
	return r.MessageID, nil
}

// SendPush sends a push browser notification and returns LeadSquared's
// message ("Message broadcasted successfully"). The body is validated first:
// an invalid one returns its *ValidationError and is never sent. An answer
// whose Status is not "Success" is an *Error, as is any other failure.
func (c *Client) SendPush(ctx context.Context, n PushNotification) (message string, err error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	a, err := c.call(ctx, opPush, http.MethodPost, PushPath, &n)
	if err != nil {
		return "", err
	}
	var r PushResult
	if err := c.decode(opPush, a, &r, `{"Status":"Success","Message":{"Message":"…"}}`, func() bool { return a.verdict.hasStatus }); err != nil {
		return "", err
	}
	if !strings.EqualFold(r.Status, "Success") {
		return "", c.failure(opPush, a)
	}
	return r.Message.Message, nil
}

// probeBody is what ProbePath sends: JSON cut short, which no API can read,
// so nothing can be delivered from it.
const probeBody = `{"lsqdispatch":"path probe; this body is invalid JSON on purpose"`

// ProbePath tells whether the notification API op ("system" or "push")
// answers at its path, without delivering anything: it POSTs a body that is
// not valid JSON. LeadSquared documents 400 for a body "not as per API
// specification" and 404 for "The API could not be found", so a right path
// answers 400 and a wrong one 404. It returns nil when the path answered (a
// 400, or any 2xx), and otherwise the call's *Error: KindConfiguration for
// a 404 or a redirect (the path is still wrong), KindCredentials,
// KindRateLimited or KindTransient as for any call. LeadSquared counts the
// probe against the rate limit like any call.
//
// That LeadSquared rejects the invalid body with 400 before anything else
// is inferred from its documented answers, not confirmed against a live
// account; the sandbox behaves so.
func (c *Client) ProbePath(ctx context.Context, op string) error {
	path := PushPath
	switch op {
	case opSystem:
		path = c.systemPath
	case opPush:
	default:
		return fmt.Errorf("leadsquared: ProbePath: op %q is not %q or %q", op, opSystem, opPush)
	}
	a, err := c.call(ctx, op, http.MethodPost, path, rawBody(probeBody))
	if err != nil {
		return err
	}
	if a.status == http.StatusBadRequest || (a.status >= 200 && a.status < 300) {
		return nil
	}
	return c.failure(op, a)
}

// rawBody is a request body sent as it is, not encoded as JSON.
type rawBody string

type requestIDKey struct{}

// WithRequestID returns a context whose calls carry id in the X-Request-ID
// header, for tracing (the sandbox also attributes push calls to task refs
// by it). An id that is empty, longer than 200 bytes or not printable ASCII is
// not sent.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	if len(id) > 200 || !printableASCII(id) {
		return ""
	}
	return id
}

// call sends one request and reads its answer. It returns an *Error when no
// complete answer arrived; the answer's meaning is left to the caller.
func (c *Client) call(ctx context.Context, op, method, path string, body any) (*answer, error) {
	var payload io.Reader
	if raw, ok := body.(rawBody); ok {
		payload = strings.NewReader(string(raw))
	} else if body != nil {
		b, err := encodeBody(body)
		if err != nil {
			return nil, &Error{Kind: KindPermanent, Op: op, Err: err}
		}
		payload = bytes.NewReader(b)
	}

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, method, c.base+path, payload)
	if err != nil {
		return nil, &Error{Kind: KindConfiguration, Op: op, Err: c.redactErr(err)}
	}
	// Direct assignment keeps LeadSquared's documented spelling on the wire
	// (Header.Set would send X-Lsq-Accesskey); both are valid HTTP.
	req.Header[AccessKeyHeader] = []string{c.accessKey}
	req.Header[SecretKeyHeader] = []string{c.secretKey}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := requestID(ctx); id != "" {
		req.Header[RequestIDHeader] = []string{id}
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	a, err := readAnswer(resp)
	if err != nil && (a.status >= 200 && a.status < 300) {
		// A 2xx whose body did not arrive whole: LeadSquared took the call
		// and most likely delivered it, but without its answer the caller
		// cannot know. For a notification, sending it again may deliver it
		// twice.
		if op == opKeyCheck {
			return nil, c.transportError(ctx, op, err)
		}
		return nil, &Error{Kind: KindUnconfirmed, Op: op, StatusCode: a.status,
			Err: fmt.Errorf("HTTP %d, but the answer was cut short: the notification may have been delivered: %w", a.status, c.redactErr(err))}
	}
	return a, nil
}

// encodeBody marshals a body the way LeadSquared's samples show it: without
// escaping <, > and & (so links stay readable) and without a trailing newline.
func encodeBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// transportError wraps an error that left no usable answer. The caller's own
// cancellation stays recognisable with errors.Is(err, context.Canceled) and
// is KindUnknown; a failed TLS verification is KindConfiguration; timeouts
// and every other transport failure are KindTransient.
func (c *Client) transportError(ctx context.Context, op string, err error) *Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		if !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", context.Canceled, err)
		}
		return &Error{Kind: KindUnknown, Op: op, Err: c.redactErr(err)}
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return &Error{Kind: KindConfiguration, Op: op, Err: c.redactErr(err)}
	}
	return &Error{Kind: KindTransient, Op: op, Err: c.redactErr(err)}
}
