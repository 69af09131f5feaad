package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

const (
	testAccessKey = "u$r0123456789abcdef0123456789abcdef"
	testSecretKey = "0123456789abcdef0123456789abcdef01234567"
	testUser      = "2f5508b5-f7ed-11ea-b39f-122cab85b441"
)

// clock is a stub clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// sleeper records the sleeps asked for and returns at once, or, when block
// is set, waits for the context like a real timer that never fires.
type sleeper struct {
	mu     sync.Mutex
	slept  []time.Duration
	block  bool
	called chan struct{}
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.slept = append(s.slept, d)
	block := s.block
	s.mu.Unlock()
	if s.called != nil {
		s.called <- struct{}{}
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (s *sleeper) Slept() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.slept...)
}

type testBundle struct {
	srv   *Server
	clock *clock
	sleep *sleeper
}

// t0 is a Monday morning, UTC.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// setup returns a server with the test keys, a stub clock at t0 and a stub
// sleep; adjust changes the config first.
func setup(t *testing.T, adjust ...func(*Config)) *testBundle {
	t.Helper()
	b := &testBundle{clock: &clock{t: t0}, sleep: &sleeper{}}
	cfg := Config{AccessKey: testAccessKey, SecretKey: testSecretKey, Now: b.clock.Now, Sleep: b.sleep.Sleep, Seed: 1}
	for _, f := range adjust {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	b.srv = srv
	return b
}

// result is an answer as a test reads it.
type result struct {
	Status int
	Header http.Header
	Body   string
	// JSON is the body decoded, when it is a JSON object.
	JSON map[string]any
}

func (r result) exception() (typ, msg string) {
	typ, _ = r.JSON["ExceptionType"].(string)
	msg, _ = r.JSON["ExceptionMessage"].(string)
	return typ, msg
}

// serve runs req through the server and reads the answer.
func (b *testBundle) serve(t *testing.T, req *http.Request) result {
	t.Helper()
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	res := result{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.JSON)
	return res
}

// request builds a request with the test keys and, with a body, JSON's
// Content-Type; headers are name, value pairs that override them ("" removes).
func request(method, path, body string, headers ...string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set(leadsquared.AccessKeyHeader, testAccessKey)
	req.Header.Set(leadsquared.SecretKeyHeader, testSecretKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return req
}

const (
	validPush   = `{"UserId":"` + testUser + `","Title":"Hot lead","Content":"Call Asha now"}`
	validSystem = `{"Type":"Lead","CardContents":{"Message":"New lead assigned","CTA":{"CTALabel":"View","CTALink":"https://example.com/lead/1"}},"ToUser":"` + testUser + `","ExternalSource":{"ExternalReferenceId":"ref-1","InvocationSource":"Platform"}}`
)

func systemWithRef(ref string) string {
	return strings.Replace(validSystem, `"ref-1"`, `"`+ref+`"`, 1)
}

// push sends a valid push with the test keys and optional headers.
func (b *testBundle) push(t *testing.T, headers ...string) result {
	t.Helper()
	return b.serve(t, request(http.MethodPost, leadsquared.PushPath, validPush, headers...))
}

func (b *testBundle) system(t *testing.T, body string, headers ...string) result {
	t.Helper()
	return b.serve(t, request(http.MethodPost, leadsquared.DefaultSystemNotificationPath, body, headers...))
}

func wantStatus(t *testing.T, what string, got result, want int) {
	t.Helper()
	if got.Status != want {
		t.Fatalf("%s: HTTP %d, want %d; body %s", what, got.Status, want, got.Body)
	}
}

func wantException(t *testing.T, what string, got result, status int, typ, msgPart string) {
	t.Helper()
	wantStatus(t, what, got, status)
	gt, gm := got.exception()
	if got.JSON["Status"] != "Error" || gt != typ || !strings.Contains(gm, msgPart) {
		t.Fatalf("%s: body %s, want Status Error, ExceptionType %s and a message containing %q", what, got.Body, typ, msgPart)
	}
}
