package leadsquared

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Test keys: long and distinct, so that a leak cannot hide in other text.
const (
	testAccessKey = "u$TESTACCESS-0123456789abcdef0123456789abcdef"
	testSecretKey = "TESTSECRET-fedcba9876543210fedcba9876543210"
)

const (
	systemOK = `{"MessageID":"3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260","Success":true}`
	pushOK   = `{"Status":"Success","Message":{"Message":"Message broadcasted successfully"}}`
	userOK   = `{"Id":"1a50c565-8525-11ea-a93b-0aa4c559f4ca","Name":"Yogesh","Role":"Administrator","EmailAddress":null,` +
		`"Type":"ApplicationUser","OrgId":"3b1041a3-8374-11e7-8758-0a106ee76b21","OrgShortCode":"22824",` +
		`"LSQCommonServiceURLs":{"api":"api-in21.leadsquared.com","app":"in21.leadsquared.com"}}`
)

// recorded is what a fake LeadSquared saw of one request.
type recorded struct {
	method     string
	path       string
	requestURI string
	header     http.Header
	body       []byte
}

// fake is an httptest LeadSquared that records each request and answers
// with a fixed status, headers and body.
type fake struct {
	srv  *httptest.Server
	reqs chan recorded
}

func newFake(t *testing.T, status int, body string, header ...string) *fake {
	t.Helper()
	f := &fake{reqs: make(chan recorded, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.reqs <- recorded{method: r.Method, path: r.URL.Path, requestURI: r.RequestURI, header: r.Header.Clone(), body: b}
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// one returns the single request the fake saw.
func (f *fake) one(t *testing.T) recorded {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	default:
		t.Fatal("the fake received no request")
		return recorded{}
	}
}

// calls counts the requests the fake saw.
func (f *fake) calls() int { return len(f.reqs) }

func newTestClient(t *testing.T, baseURL string, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL, AccessKey: testAccessKey, SecretKey: testSecretKey}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestNewClient_Defaults(t *testing.T) {
	t.Parallel()
	c, err := NewClient(Config{AccessKey: testAccessKey, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "https://api.leadsquared.com" {
		t.Errorf("BaseURL() = %q, want https://api.leadsquared.com", got)
	}
	if c.systemPath != DefaultSystemNotificationPath {
		t.Errorf("system path = %q, want %q", c.systemPath, DefaultSystemNotificationPath)
	}
	if c.timeout != 10*time.Second {
		t.Errorf("timeout = %s, want 10s", c.timeout)
	}
	if want := "lsqdispatch/" + Version + " (+https://github.com/lsqdispatch/lsqdispatch)"; c.userAgent != want {
		t.Errorf("user agent = %q, want %q", c.userAgent, want)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("default transport is %T, want *http.Transport", c.hc.Transport)
	}
	if tr.MaxIdleConnsPerHost != 64 || tr.DisableKeepAlives || tr.Proxy == nil {
		t.Errorf("default transport not tuned: MaxIdleConnsPerHost=%d DisableKeepAlives=%v", tr.MaxIdleConnsPerHost, tr.DisableKeepAlives)
	}
	c2, _ := NewClient(Config{AccessKey: testAccessKey, SecretKey: testSecretKey})
	if c2.hc.Transport == c.hc.Transport {
		t.Error("two clients share a default transport; each client should own one")
	}
}

func TestNewClient_BaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		region string
		base   string
		want   string
	}{
		{"Region", "us11", "", "https://api-us11.leadsquared.com"},
		{"RegionUpperCase", "IN22", "", "https://api-in22.leadsquared.com"},
		{"BaseURLOverridesRegion", "us11", "https://api-ca12.leadsquared.com", "https://api-ca12.leadsquared.com"},
		{"BaseURLOverridesBadRegion", "mars", "https://api-ca12.leadsquared.com", "https://api-ca12.leadsquared.com"},
		{"TrailingSlash", "", "https://api-ir31.leadsquared.com/", "https://api-ir31.leadsquared.com"},
		{"PathPrefix", "", "https://proxy.example.com/lsq/", "https://proxy.example.com/lsq"},
		{"SchemeCase", "", "HTTPS://api.leadsquared.com", "https://api.leadsquared.com"},
		{"Loopback4", "", "http://127.0.0.1:8089", "http://127.0.0.1:8089"},
		{"Loopback4Range", "", "http://127.8.9.10:8089", "http://127.8.9.10:8089"},
		{"Loopback6", "", "http://[::1]:8089", "http://[::1]:8089"},
		{"Localhost", "", "http://localhost:8089", "http://localhost:8089"},
		{"LocalhostUpper", "", "http://LOCALHOST:8089", "http://LOCALHOST:8089"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(Config{Region: tt.region, BaseURL: tt.base, AccessKey: testAccessKey, SecretKey: testSecretKey})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewClient_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // parts of the error
	}{
		{"NoKeys", Config{}, []string{"Config.AccessKey is required", "Config.SecretKey is required"}},
		{"KeyWithNewline", Config{AccessKey: testAccessKey, SecretKey: testSecretKey + "\n"},
			[]string{"Config.SecretKey has leading or trailing white space"}},
		{"KeyWithControl", Config{AccessKey: "a\x00b", SecretKey: testSecretKey},
			[]string{"Config.AccessKey must be printable ASCII"}},
		{"UnknownRegion", Config{Region: "eu1"}, []string{`Config.Region: unknown region "eu1"; valid regions: sg, us11, in21, in22, ir31, ca12`}},
		{"HTTPRemote", Config{BaseURL: "http://api.leadsquared.com"},
			[]string{`Config.BaseURL uses http:// with host "api.leadsquared.com"`, "use https://", "loopback"}},
		{"HTTPLookalike", Config{BaseURL: "http://127.0.0.1.nip.io:8089"}, []string{"Config.BaseURL uses http://"}},
		{"HTTPAnyAddress", Config{BaseURL: "http://0.0.0.0:8089"}, []string{"Config.BaseURL uses http://"}},
		{"FTP", Config{BaseURL: "ftp://api.leadsquared.com"}, []string{"Config.BaseURL must start with https://"}},
		{"NoScheme", Config{BaseURL: "api.leadsquared.com"}, []string{"Config.BaseURL must start with https://"}},
		{"NoHost", Config{BaseURL: "https://"}, []string{"Config.BaseURL has no host"}},
		{"UserInfo", Config{BaseURL: "https://me:" + testSecretKey + "@api.leadsquared.com"}, []string{"must not hold a user or password"}},
		{"Query", Config{BaseURL: "https://api.leadsquared.com/?secretKey=" + testSecretKey}, []string{"must not hold a query string"}},
		{"Fragment", Config{BaseURL: "https://api.leadsquared.com/#x"}, []string{"must not hold a fragment"}},
		{"Unparsable", Config{BaseURL: "https://api.leadsquared.com:port/" + testSecretKey}, []string{"Config.BaseURL is not a valid URL"}},
		{"PathWithoutSlash", Config{SystemNotificationPath: "v2/Converse.svc/Send"}, []string{"Config.SystemNotificationPath"}},
		{"PathWithQuery", Config{SystemNotificationPath: "/v2/x?secretKey=" + testSecretKey}, []string{"Config.SystemNotificationPath", "without query"}},
		{"NegativeTimeout", Config{Timeout: -time.Second}, []string{"Config.Timeout -1s must be positive"}},
		{"UserAgentNewline", Config{UserAgent: "x\r\nX-Evil: 1"}, []string{"Config.UserAgent must be printable ASCII"}},
		{"AllAtOnce", Config{Region: "eu1", SystemNotificationPath: "x", Timeout: -1},
			[]string{"AccessKey", "SecretKey", "Region", "SystemNotificationPath", "Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			if tt.name != "NoKeys" && tt.name != "AllAtOnce" && cfg.AccessKey == "" {
				cfg.AccessKey, cfg.SecretKey = testAccessKey, testSecretKey
			}
			c, err := NewClient(cfg)
			if err == nil {
				t.Fatalf("NewClient = %v, nil; want an error", c)
			}
			if c != nil {
				t.Errorf("NewClient returned a client with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			assertNoKeys(t, err.Error())
		})
	}
}

// assertNoKeys fails the test if s holds either test key.
func assertNoKeys(t *testing.T, s string) {
	t.Helper()
	for _, k := range []string{testSecretKey, testAccessKey} {
		if strings.Contains(s, k) {
			t.Errorf("a key leaked into %q", s)
		}
	}
}

func TestClient_SendSystem_Wire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    SystemNotification
		want string
	}{
		{
			"Full",
			validSystem(),
			`{"Type":"Lead","CardContents":{"Message":"New Lead Assigned .","Description":"Lead submitted the form in our campaign page.",` +
				`"CTA":{"CTALabel":"View Lead","CTALink":"https://us11.leadsquared.com/LeadManagement/LeadDetails?LeadID=4fd84498-d53c-4de5-a540-6ac466a6aa6c&pageNumber=1"},` +
				`"IconColorCode":"rgb(247, 79, 103, 0.9)"},"ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441",` +
				`"ExternalSource":{"ExternalReferenceId":"190781237","InvocationSource":"Platform"}}`,
		},
		{
			"Minimal",
			SystemNotification{Type: "Task", CardContents: CardContents{Message: "Call back <b>Zoë</b> & co"}, ToUser: testUserID},
			`{"Type":"Task","CardContents":{"Message":"Call back <b>Zoë</b> & co"},"ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441"}`,
		},
		{
			"EmptyExternalSource",
			SystemNotification{Type: "Task", CardContents: CardContents{Message: "m"}, ToUser: testUserID, ExternalSource: &ExternalSource{}},
			`{"Type":"Task","CardContents":{"Message":"m"},"ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441","ExternalSource":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, 200, systemOK)
			c := newTestClient(t, f.srv.URL)
			ctx := WithRequestID(context.Background(), "ref-42")
			id, err := c.SendSystem(ctx, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if id != "3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260" {
				t.Errorf("messageID = %q", id)
			}
			r := f.one(t)
			if r.method != http.MethodPost || r.path != DefaultSystemNotificationPath {
				t.Errorf("request = %s %s, want POST %s", r.method, r.path, DefaultSystemNotificationPath)
			}
			if string(r.body) != tt.want {
				t.Errorf("body:\n got %s\nwant %s", r.body, tt.want)
			}
			checkHeaders(t, r, true)
			if got := r.header.Get(RequestIDHeader); got != "ref-42" {
				t.Errorf("%s = %q, want ref-42", RequestIDHeader, got)
			}
		})
	}
}

func TestClient_SendPush_Wire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    PushNotification
		want string
	}{
		{
			"Full",
			validPush(),
			`{"UserId":"3b1041fb-8374-11e7-8758-0a106ee76b21","Title":"LeadSquared Signals",` +
				`"Content":"You may want to call this lead while it remains hot!",` +
				`"ClickURL":"https://app.leadsquared.com/LeadManagement/LeadDetails?LeadID=1","IconURL":"https://example.com/icon.png"}`,
		},
		{
			"Minimal",
			PushNotification{Title: "Tom & Jerry <3", Content: "café ✓ \"quoted\"\n"},
			`{"Title":"Tom & Jerry <3","Content":"café ✓ \"quoted\"\n"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, 200, pushOK)
			c := newTestClient(t, f.srv.URL)
			msg, err := c.SendPush(context.Background(), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if msg != "Message broadcasted successfully" {
				t.Errorf("message = %q", msg)
			}
			r := f.one(t)
			if r.method != http.MethodPost || r.path != PushPath {
				t.Errorf("request = %s %s, want POST %s", r.method, r.path, PushPath)
			}
			if string(r.body) != tt.want {
				t.Errorf("body:\n got %s\nwant %s", r.body, tt.want)
			}
			checkHeaders(t, r, true)
			if got := r.header.Values(RequestIDHeader); got != nil {
				t.Errorf("%s sent without WithRequestID: %q", RequestIDHeader, got)
			}
		})
	}
}

// checkHeaders asserts the headers every call carries, and that no key is in
// the request's URL.
func checkHeaders(t *testing.T, r recorded, withBody bool) {
	t.Helper()
	want := map[string]string{
		AccessKeyHeader: testAccessKey,
		SecretKeyHeader: testSecretKey,
		"Accept":        "application/json",
		"User-Agent":    "lsqdispatch/" + Version + " (+https://github.com/lsqdispatch/lsqdispatch)",
	}
	if withBody {
		want["Content-Type"] = "application/json"
	}
	for k, v := range want {
		if got := r.header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
	if !withBody && r.header.Get("Content-Type") != "" {
		t.Errorf("Content-Type %q sent without a body", r.header.Get("Content-Type"))
	}
	if strings.Contains(r.requestURI, "?") {
		t.Errorf("request URI %q has a query string", r.requestURI)
	}
	assertNoKeys(t, r.requestURI)
}

// TestClient_HeadersOnTheWire reads the raw request bytes, which a Go server
// would canonicalise, to check the key headers' exact spelling.
func TestClient_HeadersOnTheWire(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	head := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			head <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		tp := textproto.NewReader(br)
		var lines []string
		length := 0
		for {
			line, err := tp.ReadLine()
			if err != nil || line == "" {
				break
			}
			lines = append(lines, line)
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		io.CopyN(io.Discard, br, int64(length))
		head <- strings.Join(lines, "\n")
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(pushOK), pushOK)
	}()

	c := newTestClient(t, "http://"+ln.Addr().String())
	if _, err := c.SendPush(WithRequestID(context.Background(), "ref-1"), validPush()); err != nil {
		t.Fatal(err)
	}
	got := <-head
	for _, want := range []string{
		"POST " + PushPath + " HTTP/1.1",
		"x-LSQ-AccessKey: " + testAccessKey,
		"x-LSQ-SecretKey: " + testSecretKey,
		"X-Request-ID: ref-1",
		"Content-Type: application/json",
		"Accept: application/json",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("request head lacks %q:\n%s", want, got)
		}
	}
	requestLine, _, _ := strings.Cut(got, "\n")
	assertNoKeys(t, requestLine)
}

// roundTripFunc lets a test answer requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClient_RegionHosts(t *testing.T) {
	t.Parallel()
	for _, region := range append(Regions(), "") {
		t.Run("Region"+region, func(t *testing.T) {
			t.Parallel()
			host, err := RegionHost(region)
			if err != nil {
				t.Fatal(err)
			}
			var urls []string
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				urls = append(urls, r.Method+" "+r.URL.String())
				body := pushOK
				if r.Method == http.MethodGet {
					body = userOK
				}
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
			})}
			c, err := NewClient(Config{Region: region, AccessKey: testAccessKey, SecretKey: testSecretKey, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SendPush(context.Background(), validPush()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CheckKeys(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"POST https://" + host + PushPath,
				"GET https://" + host + KeyCheckPath,
			}
			if strings.Join(urls, "\n") != strings.Join(want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(urls, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestClient_ExplicitBaseURLAndPath(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, systemOK)
	c := newTestClient(t, f.srv.URL+"/lsq/", func(cfg *Config) {
		cfg.Region = "us11" // ignored: BaseURL wins
		cfg.SystemNotificationPath = "/v2/Custom.svc/Notify"
	})
	if _, err := c.SendSystem(context.Background(), validSystem()); err != nil {
		t.Fatal(err)
	}
	if r := f.one(t); r.path != "/lsq/v2/Custom.svc/Notify" {
		t.Errorf("path = %q, want /lsq/v2/Custom.svc/Notify", r.path)
	}
}

func TestClient_CustomUserAgentAndHTTPClient(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, pushOK)
	own := &http.Client{}
	c := newTestClient(t, f.srv.URL, func(cfg *Config) {
		cfg.UserAgent = "acme-crm/2.0"
		cfg.HTTPClient = own
	})
	if _, err := c.SendPush(context.Background(), validPush()); err != nil {
		t.Fatal(err)
	}
	if got := f.one(t).header.Get("User-Agent"); got != "acme-crm/2.0" {
		t.Errorf("User-Agent = %q", got)
	}
	if own.CheckRedirect != nil {
		t.Error("NewClient changed the caller's http.Client")
	}
}

func TestClient_CheckKeys(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, userOK)
	c := newTestClient(t, f.srv.URL)
	u, err := c.CheckKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Id != "1a50c565-8525-11ea-a93b-0aa4c559f4ca" || u.Name != "Yogesh" || u.Role != "Administrator" ||
		u.OrgId != "3b1041a3-8374-11e7-8758-0a106ee76b21" || u.APIHost() != "api-in21.leadsquared.com" {
		t.Errorf("user = %+v", u)
	}
	r := f.one(t)
	if r.method != http.MethodGet || r.path != KeyCheckPath || len(r.body) != 0 {
		t.Errorf("request = %s %s with %d body bytes, want GET %s without body", r.method, r.path, len(r.body), KeyCheckPath)
	}
	checkHeaders(t, r, false)
}

func TestClient_CheckKeys_OrgIdNumber(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, `{"Id":"1a50c565-8525-11ea-a93b-0aa4c559f4ca","Name":"N","Role":"R","OrgId":22824}`)
	u, err := newTestClient(t, f.srv.URL).CheckKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.OrgId != "22824" || u.Name != "N" {
		t.Errorf("user = %+v, want OrgId 22824", u)
	}
}

func TestClient_ValidatesBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, systemOK)
	c := newTestClient(t, f.srv.URL)

	_, err := c.SendSystem(context.Background(), SystemNotification{})
	var ve *ValidationError
	if !errors.As(err, &ve) || Classify(err) != KindPermanent {
		t.Errorf("SendSystem(invalid) = %v (%T), want a *ValidationError", err, err)
	}
	if _, ok := err.(*ValidationError); !ok {
		t.Errorf("SendSystem wrapped the *ValidationError in %T; want it unchanged", err)
	}
	_, err = c.SendPush(context.Background(), PushNotification{Title: strings.Repeat("x", 2049), Content: "y"})
	if _, ok := err.(*ValidationError); !ok {
		t.Errorf("SendPush(invalid) = %v (%T), want a *ValidationError", err, err)
	}
	if n := f.calls(); n != 0 {
		t.Errorf("invalid bodies made %d HTTP calls, want 0", n)
	}
}

func TestClient_DoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := newFake(t, 200, pushOK)
	f := newFake(t, http.StatusFound, "", "Location", elsewhere.srv.URL+PushPath+"?x="+testSecretKey)
	c := newTestClient(t, f.srv.URL)
	_, err := c.SendPush(context.Background(), validPush())
	var le *Error
	if !errors.As(err, &le) || le.Kind != KindConfiguration || le.StatusCode != http.StatusFound {
		t.Fatalf("err = %v, want a configuration *Error with HTTP 302", err)
	}
	if !strings.Contains(err.Error(), "redirected to "+elsewhere.srv.URL+PushPath+";") {
		t.Errorf("error %q does not name the redirect target", err)
	}
	assertNoKeys(t, err.Error())
	if n := elsewhere.calls(); n != 0 {
		t.Errorf("the redirect was followed: the other host got %d calls (and the keys)", n)
	}
}

// block is a handler that holds each request until the client gives up or
// the test ends, and reports each arrival on arrived.
func block(t *testing.T, arrived chan<- struct{}) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			arrived <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks handlers so Close returns
	return srv
}

func TestClient_Timeout(t *testing.T) {
	t.Parallel()
	srv := block(t, nil)
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	_, err := c.SendPush(context.Background(), validPush())
	var le *Error
	if !errors.As(err, &le) || le.Kind != KindTransient || le.Op != "push" || le.StatusCode != 0 {
		t.Fatalf("err = %v, want a transient push *Error without status", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
	}
	if Classify(err) != KindTransient {
		t.Errorf("Classify = %v", Classify(err))
	}
}

func TestClient_CallerDeadline(t *testing.T) {
	t.Parallel()
	srv := block(t, nil)
	c := newTestClient(t, srv.URL) // 10s timeout; the caller's deadline is shorter
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.CheckKeys(ctx)
	if Classify(err) != KindTransient || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (kind %v), want transient deadline", err, Classify(err))
	}
}

func TestClient_SlowBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		io.WriteString(w, `{"Status":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	// The 200 arrived, its body did not: LeadSquared took the call, so it
	// may have delivered it, and sending it again may deliver it twice.
	_, err := c.SendPush(context.Background(), validPush())
	if Classify(err) != KindUnconfirmed || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (kind %v), want unconfirmed, with the deadline", err, Classify(err))
	}
}

func TestClient_Canceled(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := block(t, arrived)
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.SendSystem(ctx, validSystem())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("errors.Is(%v, context.Canceled) = false", err)
	}
	if k := Classify(err); k != KindUnknown {
		t.Errorf("Classify = %v, want unknown: the caller cancelled, nothing failed", k)
	}
}

func TestClient_CanceledBeforeCall(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, pushOK)
	c := newTestClient(t, f.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SendPush(ctx, validPush()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClient_ConnectionRefused(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "http://"+closedAddr(t))
	_, err := c.SendPush(context.Background(), validPush())
	var le *Error
	if !errors.As(err, &le) || le.Kind != KindTransient || le.Err == nil {
		t.Fatalf("err = %v, want a transient *Error wrapping the dial error", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("the dial error is not reachable with errors.As: %v", err)
	}
}

// TestClient_KeysNeverInErrors drives every error path, with servers that
// echo the keys back wherever they can, and checks no error text holds a key.
func TestClient_KeysNeverInErrors(t *testing.T) {
	t.Parallel()
	echo := func(status int, shape string, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			k := r.Header.Get(SecretKeyHeader) + " " + r.Header.Get(AccessKeyHeader)
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], strings.ReplaceAll(header[i+1], "KEYS", k))
			}
			w.WriteHeader(status)
			io.WriteString(w, strings.ReplaceAll(shape, "KEYS", k))
		}
	}
	lsqError := `{"Status":"Error","ExceptionType":"MXKEYS","ExceptionMessage":"bad keys KEYS"}`
	var handlers []http.HandlerFunc
	for _, status := range []int{200, 400, 401, 403, 404, 408, 429, 500, 502, 503} {
		handlers = append(handlers,
			echo(status, lsqError, "Retry-After", "KEYS"),
			echo(status, "<html><body>Error for KEYS</body></html>"),
			echo(status, `{"Success":false,"Message":"KEYS"}`),
		)
	}
	handlers = append(handlers,
		echo(200, `{"Status":"Failed","Message":{"Message":"KEYS"}}`),
		echo(200, `not json KEYS`),
		echo(200, `{"Id":""}KEYS`),
		echo(http.StatusFound, "", "Location", "https://evil.example.com/KEYS?k=KEYS"),
		echo(http.StatusFound, "", "Location", "::KEYS"),
		echo(200, strings.Repeat("x", maxAnswerBytes)+"KEYS"),
	)

	var errs []error
	for _, h := range handlers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c := newTestClient(t, srv.URL)
		_, err := c.SendSystem(context.Background(), validSystem())
		errs = append(errs, err)
		_, err = c.SendPush(context.Background(), validPush())
		errs = append(errs, err)
		_, err = c.CheckKeys(context.Background())
		errs = append(errs, err)
	}

	// Transport failures, with a key pasted into the base URL's path, which
	// net/http puts into its error text.
	refused := newTestClient(t, "http://"+closedAddr(t)+"/"+testSecretKey)
	_, err := refused.SendPush(context.Background(), validPush())
	errs = append(errs, err)
	slow := newTestClient(t, block(t, nil).URL+"/"+testSecretKey, func(cfg *Config) { cfg.Timeout = 20 * time.Millisecond })
	_, err = slow.CheckKeys(context.Background())
	errs = append(errs, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = slow.SendSystem(ctx, validSystem())
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assertNoKeys(t, s)
		}
		var le *Error
		if errors.As(err, &le) {
			assertNoKeys(t, le.Reason())
			assertNoKeys(t, le.ExceptionType+le.ExceptionMessage)
		}
	}
}

func TestClient_StringHidesKeys(t *testing.T) {
	t.Parallel()
	cfg := Config{BaseURL: "https://api.leadsquared.com", AccessKey: testAccessKey, SecretKey: testSecretKey}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("start", "config", cfg, "client", c)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", &cfg),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", *c), logged.String(),
	} {
		assertNoKeys(t, s)
	}
	if got := c.String(); got != "leadsquared.Client{BaseURL:https://api.leadsquared.com}" {
		t.Errorf("String() = %q", got)
	}
}

func TestWithRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want string
	}{
		{"ref-7", "ref-7"},
		{"", ""},
		{"bad\r\nX-Evil: 1", ""},
		{"é", ""},
		{strings.Repeat("r", 200), strings.Repeat("r", 200)},
		{strings.Repeat("r", 201), ""},
	}
	for _, tt := range tests {
		if got := requestID(WithRequestID(context.Background(), tt.id)); got != tt.want {
			t.Errorf("requestID(WithRequestID(%q)) = %q, want %q", tt.id, got, tt.want)
		}
	}
	if got := requestID(context.Background()); got != "" {
		t.Errorf("requestID(Background) = %q", got)
	}
}
