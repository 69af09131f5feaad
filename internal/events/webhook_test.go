package events_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

const secret = "whsec-7f3c9a1e5b2d4c8f"

// receiver is a webhook endpoint that checks every request as a receiver
// must, and records the events it accepted.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	// fail, when set, answers a request with a status other than 200.
	fail func(id string, attempt int) int

	mu       sync.Mutex
	attempts map[string]int // requests per event ID
	accepted map[string]int // 2xx answers per event ID
	bad      []string       // what was wrong with a request
}

func newReceiver(t *testing.T, fail func(id string, attempt int) int) *receiver {
	r := &receiver{t: t, fail: fail, attempts: map[string]int{}, accepted: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ev tasks.Event
	problem := ""
	switch {
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		problem = fmt.Sprintf("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	case events.Verify(secret, req.Header.Get(events.HeaderSignature), body, time.Now(), 5*time.Minute) != nil:
		problem = "signature: " + events.Verify(secret, req.Header.Get(events.HeaderSignature), body, time.Now(), 5*time.Minute).Error()
	case json.Unmarshal(body, &ev) != nil || ev.ID == "" || ev.ID != req.Header.Get(events.HeaderEventID):
		problem = fmt.Sprintf("body %s, %s %q", body, events.HeaderEventID, req.Header.Get(events.HeaderEventID))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if problem != "" {
		r.bad = append(r.bad, problem)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.attempts[ev.ID]++
	if r.fail != nil {
		if code := r.fail(ev.ID, r.attempts[ev.ID]); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	r.accepted[ev.ID]++
}

// wait waits until n distinct events were accepted, then reports bad requests.
func (r *receiver) wait(n int) {
	r.t.Helper()
	testutil.Eventually(r.t, 20*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.accepted) >= n || len(r.bad) > 0
	}, "the receiver accepted %d of %d events", r.count(), n)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.bad {
		r.t.Errorf("bad request: %s", p)
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

// checkOnce reports an event accepted more than once.
func (r *receiver) checkOnce() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.accepted {
		if n != 1 {
			r.t.Errorf("event %s accepted %d times", id, n)
		}
	}
}

// startWebhook starts a forwarder with short waits, stopped at the end.
func startWebhook(t *testing.T, b *testBundle, url, consumer string, adjust func(*events.WebhookConfig)) *events.Webhook {
	t.Helper()
	cfg := events.WebhookConfig{Redis: b.rdb, URL: url, Secret: secret, Consumer: consumer,
		RetryFirst: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Block: 20 * time.Millisecond, ClaimIdle: time.Minute}
	if adjust != nil {
		adjust(&cfg)
	}
	w, err := events.NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(w.Shutdown)
	return w
}

func TestNewWebhook_Validates(t *testing.T) {
	t.Parallel()
	rdb := testutil.StartRedisAt(t, "127.0.0.1:1").Client()
	for _, tc := range []struct {
		name string
		cfg  events.WebhookConfig
		want string
	}{
		{"NoRedis", events.WebhookConfig{URL: "https://x.test", Secret: secret}, "Redis"},
		{"NoURL", events.WebhookConfig{Redis: rdb, Secret: secret}, "not an http(s) URL"},
		{"NotHTTP", events.WebhookConfig{Redis: rdb, URL: "ftp://u:urlpass@x.test/?token=qtoken", Secret: secret}, "ftp://xxxxx@x.test/?xxxxx"},
		{"NoSecret", events.WebhookConfig{Redis: rdb, URL: "https://x.test"}, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.NewWebhook(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "urlpass") || strings.Contains(err.Error(), "qtoken") {
				t.Fatalf("the error shows the URL's credentials: %v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://hooks.test/lsqd":                       "https://hooks.test/lsqd",
		"https://user:pass@hooks.test/lsqd?token=t&x=1": "https://xxxxx@hooks.test/lsqd?xxxxx",
		"http://user@127.0.0.1:8080/":                   "http://xxxxx@127.0.0.1:8080/",
		"http://[::1":                                   "(an unparsable URL)",
	} {
		if got := events.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1733443200, 0)
	body := []byte(`{"id":"1-0","type":"delivered"}`)
	header := events.Sign(secret, now, body)
	if !strings.HasPrefix(header, "t=1733443200,v1=") || len(header) != len("t=1733443200,v1=")+64 {
		t.Fatalf("header %q", header)
	}
	if err := events.Verify(secret, header, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	for name, err := range map[string]error{
		"WrongSecret": events.Verify("other", header, body, now, 5*time.Minute),
		"OtherBody":   events.Verify(secret, header, []byte(`{"id":"2-0"}`), now, 5*time.Minute),
		"TooOld":      events.Verify(secret, header, body, now.Add(6*time.Minute), 5*time.Minute),
		"Garbled":     events.Verify(secret, "v1=abc", body, now, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// Three processes share the group: every event is posted once in all,
// signed, and acknowledged.
func TestWebhook_EachEventOnceAcrossThreeForwarders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t, nil)
	b.appendEvents(t, "r", 150)
	for i := range 3 {
		startWebhook(t, b, r.srv.URL, fmt.Sprintf("notifyd-%d", i), func(c *events.WebhookConfig) {
			c.HTTPClient = r.srv.Client()
			c.Count = 5
		})
	}
	b.appendEvents(t, "s", 150)
	r.wait(300)
	testutil.Eventually(t, 10*time.Second, func() bool { return b.pending(t, events.WebhookGroup) == 0 },
		"%d events still pending", b.pending(t, events.WebhookGroup))
	r.checkOnce()
}

// A 500 is retried until the receiver answers 2xx; the events behind it wait.
func TestWebhook_RetriesAfter500(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t, func(_ string, attempt int) int {
		if attempt <= 2 {
			return http.StatusInternalServerError
		}
		return 0
	})
	b.appendEvents(t, "r", 2)
	startWebhook(t, b, r.srv.URL, "a", nil)
	r.wait(2)
	testutil.Eventually(t, 5*time.Second, func() bool { return b.pending(t, events.WebhookGroup) == 0 }, "still pending")
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.attempts {
		if n != 3 {
			t.Errorf("event %s: %d requests, want 3 (two 500s, then 200)", id, n)
		}
	}
}

// A process killed after reading events (never acknowledged) leaves them
// pending; another claims and posts them.
func TestWebhook_ClaimsWhatADeadConsumerLeft(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t, nil)
	b.appendEvents(t, "r", 4)
	dead, err := events.NewConsumer(b.rdb, events.ConsumerConfig{Group: events.WebhookGroup, Consumer: "killed", Block: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := dead.Read(b.ctx); err != nil || len(evs) != 4 {
		t.Fatalf("the doomed consumer read %d events: %v", len(evs), err)
	}
	startWebhook(t, b, r.srv.URL, "survivor", func(c *events.WebhookConfig) { c.ClaimIdle = 100 * time.Millisecond })
	r.wait(4)
	testutil.Eventually(t, 5*time.Second, func() bool { return b.pending(t, events.WebhookGroup) == 0 }, "still pending")
	r.checkOnce()
}

// While one process retries an event for longer than ClaimIdle, it keeps
// the event (and those behind it) to itself: no other process posts them.
func TestWebhook_KeepsTheEventsItRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const claimIdle = 300 * time.Millisecond
	var mu sync.Mutex
	var firstAt time.Time
	r := newReceiver(t, func(_ string, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		if firstAt.IsZero() {
			firstAt = time.Now()
		}
		if time.Since(firstAt) < 4*claimIdle {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	b.appendEvents(t, "r", 3)
	short := func(c *events.WebhookConfig) { c.ClaimIdle = claimIdle }
	startWebhook(t, b, r.srv.URL, "a", short)
	testutil.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !firstAt.IsZero()
	}, "no request came")
	startWebhook(t, b, r.srv.URL, "b", short)
	r.wait(3)
	testutil.Eventually(t, 5*time.Second, func() bool { return b.pending(t, events.WebhookGroup) == 0 }, "still pending")
	r.checkOnce()
}

// The secret never shows in a log line (at debug level, through a 500, a
// receiver that is down and a redirect), nor in Redis; nor do the URL's
// credentials.
func TestWebhook_SecretNeverLogged(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	creds := func(u string) string {
		return strings.Replace(u, "http://", "http://hookuser:urlpass@", 1) + "/hook?token=qtoken"
	}
	r := newReceiver(t, func(_ string, attempt int) int {
		if attempt == 1 {
			return http.StatusInternalServerError
		}
		return 0
	})
	redirect := httptest.NewServer(http.RedirectHandler(creds(r.srv.URL), http.StatusFound))
	t.Cleanup(redirect.Close)
	var dumps []string
	for _, tc := range []struct{ url, want string }{
		{creds(r.srv.URL), `"msg":"events webhook: delivered"`},
		{creds("http://127.0.0.1:1"), "connection refused"},
		{creds(redirect.URL), "HTTP 302"},
	} {
		b := setup(t)
		b.appendEvents(t, "r", 1)
		w := startWebhook(t, b, tc.url, "a", func(c *events.WebhookConfig) { c.Logger = logger })
		testutil.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), tc.want) },
			"no log line has %q:\n%s", tc.want, logs.String())
		w.Shutdown()
		dumps = append(dumps, redisDump(t, b))
	}
	text := logs.String()
	for _, want := range []string{"HTTP 500", "http://xxxxx@127.0.0.1:1/hook?xxxxx"} {
		if !strings.Contains(text, want) {
			t.Errorf("the log lacks %q:\n%s", want, text)
		}
	}
	for _, leak := range []string{secret, "urlpass", "qtoken", "hookuser"} {
		if strings.Contains(text, leak) {
			t.Errorf("the log shows %q:\n%s", leak, text)
		}
		for _, dump := range dumps {
			if strings.Contains(dump, leak) {
				t.Errorf("Redis holds %q:\n%s", leak, dump)
			}
		}
	}
}

// redisDump returns every key of Redis with its stream entries and groups.
func redisDump(t *testing.T, b *testBundle) string {
	t.Helper()
	var out strings.Builder
	ks, err := b.rdb.Keys(b.ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		fmt.Fprintln(&out, k)
		if k != keys.Events {
			v, _ := b.rdb.Dump(b.ctx, k).Result()
			fmt.Fprintln(&out, v)
			continue
		}
		msgs, _ := b.rdb.XRange(b.ctx, k, "-", "+").Result()
		groups, _ := b.rdb.XInfoGroups(b.ctx, k).Result()
		fmt.Fprintln(&out, msgs, groups)
		for _, g := range groups {
			cs, _ := b.rdb.XInfoConsumers(b.ctx, k, g.Name).Result()
			fmt.Fprintln(&out, cs)
		}
	}
	return out.String()
}
