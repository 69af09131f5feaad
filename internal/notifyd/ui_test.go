package notifyd

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080":  true,
		"127.8.9.10:8080": true,
		"[::1]:8080":      true,
		"localhost:8080":  true,
		"LOCALHOST:8080":  true,
		"0.0.0.0:8080":    false,
		":8080":           false,
		"[::]:8080":       false,
		"10.0.0.5:8080":   false,
		"example.com:80":  false,
		"notifyd:8080":    false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestNewUI_LoopbackServesWithoutAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	code, body := get(t, b.base+config.PathMonitoring, "", "")
	if code != http.StatusOK || !strings.Contains(body, "Asynq") {
		t.Fatalf("GET /monitoring/: %d, want 200 with asynqmon's page\n%.300s", code, body)
	}
	// The SPA's API answers under the same root, and knows the lanes once
	// something was enqueued; an empty Redis lists no queue.
	code, body = get(t, b.base+config.PathMonitoring+"api/queues", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /monitoring/api/queues: %d\n%s", code, body)
	}
	// /monitoring (no slash) redirects to the UI.
	resp, err := http.Get(b.base + "/monitoring")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != config.PathMonitoring {
		t.Fatalf("GET /monitoring: %d at %s, want 200 at %s", resp.StatusCode, resp.Request.URL.Path, config.PathMonitoring)
	}
}

func TestNewUI_OffLoopbackNeedsCredentials(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "10.1.2.3:8080", "notifyd:8080"} {
		p := &Process{Config: &config.Config{HTTPAddr: addr, RedisURL: "redis://127.0.0.1:1/0"}}
		_, err := NewUI(p)
		if err == nil {
			t.Errorf("NewUI on %s without credentials: no error", addr)
			continue
		}
		for _, want := range []string{config.EnvUIUser, config.EnvUIPassword, config.EnvHTTPAddr} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("NewUI on %s: error %q does not name %s", addr, err, want)
			}
		}
	}
	// Only one of the pair is refused anywhere.
	p := &Process{Config: &config.Config{HTTPAddr: "127.0.0.1:8080", RedisURL: "redis://127.0.0.1:1/0",
		UI: config.UI{User: "admin"}}}
	if _, err := NewUI(p); err == nil || !strings.Contains(err.Error(), config.EnvUIPassword) {
		t.Errorf("NewUI with a user but no password: %v, want an error naming %s", err, config.EnvUIPassword)
	}
}

func TestStart_OffLoopbackWithoutCredentialsRefusesToStart(t *testing.T) {
	t.Parallel()
	b := setup(t, nil) // for a Redis and a LeadSquared to point at
	cfg := *b.proc.Config
	cfg.HTTPAddr = "0.0.0.0:0"
	_, err := Start(t.Context(), &cfg, b.proc.Log, Options{UI: DefaultUI})
	if err == nil || !strings.Contains(err.Error(), config.EnvUIUser) {
		t.Fatalf("Start on 0.0.0.0 without credentials: %v, want an error naming %s", err, config.EnvUIUser)
	}
}

func TestNewUI_OffLoopbackWithCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	p := &Process{Config: &config.Config{HTTPAddr: "0.0.0.0:8080", RedisURL: b.proc.Config.RedisURL,
		UI: config.UI{User: "ops", Password: "s3cret pass"}}}
	h, err := NewUI(p)
	if err != nil {
		t.Fatalf("NewUI with credentials: %v", err)
	}
	t.Cleanup(func() { _ = h.(*uiHandler).Close() })
	srv := httptest.NewServer(h) // on loopback: the handler is what is tested
	t.Cleanup(srv.Close)
	url := srv.URL + config.PathMonitoring

	code, body := get(t, url, "", "")
	if code != http.StatusUnauthorized || strings.Contains(body, "Asynq") {
		t.Fatalf("without credentials: %d, want 401 and no UI\n%.200s", code, body)
	}
	for _, c := range []struct{ user, pass string }{{"ops", "wrong"}, {"other", "s3cret pass"}, {"ops", "s3cret pas"}, {"ops", ""}} {
		if code, _ := get(t, url, c.user, c.pass); code != http.StatusUnauthorized {
			t.Errorf("with %q/%q: %d, want 401", c.user, c.pass, code)
		}
	}
	if code, body := get(t, url, "ops", "s3cret pass"); code != http.StatusOK || !strings.Contains(body, "Asynq") {
		t.Fatalf("with credentials: %d, want 200 with the UI\n%.200s", code, body)
	}
	if code, _ := get(t, srv.URL+config.PathMonitoring+"api/queues", "", ""); code != http.StatusUnauthorized {
		t.Errorf("the UI's API without credentials: %d, want 401", code)
	}
}

func TestStart_CredentialsGuardOnlyTheUI(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.UI = config.UI{User: "ops", Password: "pw"} })
	for _, path := range []string{config.PathMonitoring, config.PathCampaigns} {
		if code, _ := get(t, b.base+path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, code)
		}
		if code, _ := get(t, b.base+path, "ops", "pw"); code != http.StatusOK {
			t.Errorf("%s with credentials: %d, want 200", path, code)
		}
	}
	for _, path := range []string{config.PathMetrics, config.PathHealthz, config.PathReadyz} {
		if code, body := get(t, b.base+path, "", ""); code != http.StatusOK {
			t.Errorf("%s without credentials: %d, want 200 (scrapers and probes have no login)\n%.300s", path, code, body)
		}
	}
}

func TestNewUI_ReadOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.UI.ReadOnly = true })
	code, body := do(t, http.MethodPost, b.base+config.PathMonitoring+"api/queues/bulk:pause", "", "")
	if code != http.StatusMethodNotAllowed {
		t.Fatalf("pausing a queue in read-only mode: %d, want 405\n%s", code, body)
	}
	if _, body := get(t, b.base+config.PathMonitoring, "", ""); !strings.Contains(body, `FLAG_READ_ONLY="true"`) {
		t.Errorf("the UI's page does not set the read-only flag:\n%.3000s", body)
	}
	if code, _ := get(t, b.base+config.PathMonitoring+"api/queues", "", ""); code != http.StatusOK {
		t.Errorf("reading in read-only mode: %d, want 200", code)
	}
}

func TestNewUI_PrometheusAddress(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.UI.PrometheusURL = "http://prometheus.invalid:9090" })
	_, body := get(t, b.base+config.PathMonitoring, "", "")
	if !strings.Contains(body, `FLAG_PROMETHEUS_SERVER_ADDRESS="http:\/\/prometheus.invalid:9090"`) {
		t.Fatalf("the UI's page does not carry the Prometheus address:\n%.3000s", body)
	}
}

func TestFormatPayload(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	meta := tasks.Meta{Ref: "lead-42", Account: "default", Lane: tasks.LaneBulk, EnqueuedAt: at, Campaign: "spring"}
	sys, err := json.Marshal(tasks.SystemPayload{Meta: meta, Body: leadsquared.SystemNotification{
		Type: "Lead", ToUser: "6a0c9d1e-0000-4000-8000-000000000001",
		CardContents: leadsquared.CardContents{Message: "New lead: Asha Rao", Description: "secret-ish detail"}}})
	if err != nil {
		t.Fatal(err)
	}
	push, err := json.Marshal(tasks.PushPayload{Meta: tasks.Meta{Ref: "sig-7", Account: "eu", Lane: tasks.LaneTransactional},
		Body: leadsquared.PushNotification{Title: "Hot lead", Content: strings.Repeat("x", 300)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, typ string
		payload   []byte
		want      map[string]string
		absent    []string
	}{
		{"System", tasks.TypeSystem, sys, map[string]string{
			"kind": "system", "ref": "lead-42", "account": "default", "lane": "bulk",
			"recipient": "6a0c9d1e-0000-4000-8000-000000000001", "message": "New lead: Asha Rao",
			"campaign": "spring", "enqueued_at": "2026-01-02T15:04:05Z",
		}, []string{"secret-ish detail", "CardContents"}},
		{"Push", tasks.TypePush, push, map[string]string{
			"kind": "push", "ref": "sig-7", "account": "eu", "lane": "transactional",
			"recipient": "(the keys' owner)", "title": "Hot lead", "message": strings.Repeat("x", maxShown-1) + "…",
		}, nil},
		{"ForeignType", "email:welcome", []byte(`{"to":"a@b.c","token":"abc"}`),
			map[string]string{"note": "task of type email:welcome (28 bytes, not shown)"}, []string{"a@b.c", "abc"}},
		{"Undecodable", tasks.TypeSystem, []byte("\x00\x01binary secret"),
			map[string]string{"note": "system payload that does not decode (15 bytes, not shown)"}, []string{"secret"}},
		{"NotANotification", tasks.TypePush, []byte(`{"key":"AKIA-secret"}`),
			map[string]string{"note": "push payload that does not decode (21 bytes, not shown)"}, []string{"AKIA"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := formatPayload(c.typ, c.payload)
			var got map[string]string
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("formatPayload = %q: not a JSON object: %v", out, err)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (in %s)", k, got[k], v, out)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("fields %v, want exactly %v", got, c.want)
			}
			for _, s := range c.absent {
				if strings.Contains(out, s) {
					t.Errorf("formatPayload shows %q: %s", s, out)
				}
			}
		})
	}
	// The order reads as a notification: kind first, then who and what.
	if out := formatPayload(tasks.TypeSystem, sys); !strings.HasPrefix(out, `{"kind":"system","ref":"lead-42","account":"default","lane":"bulk","recipient":`) {
		t.Errorf("field order: %s", out)
	}
}

func TestFormatResult(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 15, 4, 5, 123000000, time.UTC)
	res, _ := json.Marshal(tasks.Result{MessageID: "9b1d_1767366245123", DeliveredAt: at, Attempt: 2})
	push, _ := json.Marshal(tasks.Result{Message: "Message broadcasted successfully", DeliveredAt: at, Attempt: 1})
	for _, c := range []struct {
		name   string
		result []byte
		want   string
	}{
		{"System", res, `{"message_id":"9b1d_1767366245123","delivered_at":"2026-01-02T15:04:05.123Z","attempt":2}`},
		{"Push", push, `{"answer":"Message broadcasted successfully","delivered_at":"2026-01-02T15:04:05.123Z","attempt":1}`},
		{"None", nil, ""},
		{"Foreign", []byte(`{"password":"hunter2"}`), `{"note":"result that is not a delivery record (22 bytes, not shown)"}`},
		{"Binary", []byte{0xff, 0x00}, `{"note":"result that is not a delivery record (2 bytes, not shown)"}`},
	} {
		if got := formatResult(c.result); got != c.want {
			t.Errorf("%s: formatResult = %s, want %s", c.name, got, c.want)
		}
	}
}
