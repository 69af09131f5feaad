package notifyd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// campaignsBundle is the UI's handler, without workers, on a private
// miniredis, with a producer to enqueue campaigns: nothing is delivered,
// so a campaign stays running until told otherwise.
type campaignsBundle struct {
	base   string // the httptest server's URL
	redis  *miniredis.Miniredis
	client *enqueue.Client
}

// setupCampaigns serves NewUI's handler with the UI access control ui.
func setupCampaigns(t *testing.T, ui config.UI) *campaignsBundle {
	t.Helper()
	m := testutil.Miniredis(t)
	redisURL := "redis://" + m.Addr() + "/0"
	p := &Process{Config: &config.Config{HTTPAddr: "127.0.0.1:0", RedisURL: redisURL, UI: ui}}
	h, err := NewUI(p)
	if err != nil {
		t.Fatalf("NewUI: %v", err)
	}
	t.Cleanup(func() { _ = h.(*uiHandler).Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client, err := enqueue.New(t.Context(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return &campaignsBundle{base: srv.URL, redis: m, client: client}
}

// campaign enqueues a campaign of n system notifications to the default account.
func (b *campaignsBundle) campaign(t *testing.T, name string, n int) {
	t.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"type":"system","ref":"%s-%d","body":{"Type":"Lead","ToUser":"6a0c9d1e-0000-4000-8000-000000000001","CardContents":{"Message":"New lead"}}}`+"\n",
			strings.NewReplacer(`"`, "", `\`, "").Replace(name), i)
	}
	rep, err := b.client.Campaign(context.Background(), strings.NewReader(sb.String()), enqueue.CampaignOptions{Name: name})
	if err != nil || rep.Enqueued != n {
		t.Fatalf("campaign %q: %+v, %v", name, rep, err)
	}
}

// changeURL is the POST endpoint of verb for the default account's campaign name.
func (b *campaignsBundle) changeURL(name, verb string) string {
	return b.base + campaignsAPI + "/default/" + url.PathEscape(name) + "/" + verb
}

// list reads the API's list, failing the test unless it answers 200.
func (b *campaignsBundle) list(t *testing.T, user, password string) campaignsList {
	t.Helper()
	code, body := get(t, b.base+campaignsAPI, user, password)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", campaignsAPI, code, body)
	}
	var l campaignsList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("GET %s: %v\n%s", campaignsAPI, err, body)
	}
	return l
}

// decode unmarshals an API answer into a map.
func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	return m
}

// A name that is HTML, has a slash and quotes: users choose the names.
const trickyName = `<img src=x onerror=alert(1)> "spring/2026" & co`

func TestCampaignsPage_List(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	if l := b.list(t, "", ""); len(l.Campaigns) != 0 || l.ReadOnly {
		t.Fatalf("before any campaign: %+v, want none, not read-only", l)
	}
	b.campaign(t, "spring", 5)
	b.campaign(t, trickyName, 2)

	l := b.list(t, "", "")
	if len(l.Campaigns) != 2 {
		t.Fatalf("campaigns: %+v, want 2", l.Campaigns)
	}
	byName := map[string]campaignView{}
	for _, c := range l.Campaigns {
		byName[c.Name] = c
	}
	c := byName["spring"]
	if c.Account != "default" || c.State != enqueue.CampaignRunning || c.Counts.Total != 5 || c.Counts.Pending != 5 ||
		c.Done != 0 || c.Percent != 0 || !slices.Equal(c.Actions, []string{"pause", "cancel"}) {
		t.Errorf("spring: %+v", c)
	}
	if _, ok := byName[trickyName]; !ok {
		t.Errorf("the campaign %q is not listed: %+v", trickyName, l.Campaigns)
	}

	code, body := get(t, b.base+config.PathCampaigns, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", config.PathCampaigns, code, body)
	}
	for _, want := range []string{`data-name="spring"`, `<progress max="100" value="0">`, `data-verb="pause"`,
		`data-verb="cancel"`, `href="` + config.PathMonitoring + `"`, `src="/campaigns/campaigns.js"`,
		"&lt;img src=x onerror=alert(1)&gt; &#34;spring/2026&#34; &amp; co"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "<img") || strings.Contains(body, `data-verb="resume"`) {
		t.Errorf("the page shows a name unescaped, or Resume for a running campaign:\n%s", body)
	}
}

func TestCampaignsPage_Assets(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	for file, typ := range map[string]string{"campaigns.js": "javascript", "campaigns.css": "text/css"} {
		resp, err := http.Get(b.base + config.PathCampaigns + file)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), typ) || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", file, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	resp, err := http.Get(b.base + config.PathCampaigns)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'self'", csp)
	}
}

func TestCampaignsPage_PauseResumeCancel(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	b.campaign(t, trickyName, 3)
	for _, step := range []struct {
		verb, state string
		actions     []string
	}{
		{"pause", enqueue.CampaignPaused, []string{"resume", "cancel"}},
		{"pause", enqueue.CampaignPaused, []string{"resume", "cancel"}},
		{"resume", enqueue.CampaignRunning, []string{"pause", "cancel"}},
		{"cancel", enqueue.CampaignCancelled, []string{}},
	} {
		code, body := do(t, http.MethodPost, b.changeURL(trickyName, step.verb), "", "")
		var v campaignView
		if err := json.Unmarshal([]byte(body), &v); code != http.StatusOK || err != nil {
			t.Fatalf("%s: %d, %v\n%s", step.verb, code, err, body)
		}
		if v.Name != trickyName || v.State != step.state || !slices.Equal(v.Actions, step.actions) {
			t.Fatalf("after %s: %+v, want %s with %v", step.verb, v, step.state, step.actions)
		}
		if l := b.list(t, "", ""); l.Campaigns[0].State != step.state {
			t.Fatalf("after %s the list says %s, want %s", step.verb, l.Campaigns[0].State, step.state)
		}
	}
	if c := b.list(t, "", "").Campaigns[0]; c.Counts.Cancelled != 3 || c.Percent != 100 {
		t.Errorf("cancelled campaign: %+v, want 3 cancelled, 100%%", c)
	}

	// An ended campaign cannot change: 409 with the campaign as it is.
	code, body := do(t, http.MethodPost, b.changeURL(trickyName, "pause"), "", "")
	m := decode(t, body)
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(m["error"]), "cancelled") ||
		m["campaign"].(map[string]any)["state"] != enqueue.CampaignCancelled {
		t.Errorf("pausing a cancelled campaign: %d\n%s", code, body)
	}
	if code, _ := do(t, http.MethodGet, b.changeURL(trickyName, "pause"), "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on a POST endpoint: %d, want 405", code)
	}
}

func TestCampaignsPage_UnknownCampaign(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	b.campaign(t, "spring", 1)
	for _, verb := range []string{"pause", "resume", "cancel"} {
		code, body := do(t, http.MethodPost, b.changeURL("autumn", verb), "", "")
		if m := decode(t, body); code != http.StatusNotFound || m["error"] != `no campaign "autumn" in account "default"` {
			t.Errorf("%s an unknown campaign: %d %s, want 404 naming it", verb, code, body)
		}
	}
	if code, _ := do(t, http.MethodPost, b.changeURL("spring", "frobnicate"), "", ""); code != http.StatusNotFound {
		t.Errorf("an unknown verb: %d, want 404", code)
	}
	if l := b.list(t, "", ""); l.Campaigns[0].State != enqueue.CampaignRunning {
		t.Errorf("spring changed: %+v", l.Campaigns[0])
	}
}

func TestCampaignsPage_ReadOnly(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{ReadOnly: true})
	b.campaign(t, "spring", 2)
	for _, verb := range []string{"pause", "resume", "cancel"} {
		code, body := do(t, http.MethodPost, b.changeURL("spring", verb), "", "")
		if code != http.StatusForbidden || !strings.Contains(body, config.EnvUIReadOnly) {
			t.Errorf("%s in read-only mode: %d %s, want 403 naming %s", verb, code, body, config.EnvUIReadOnly)
		}
	}
	l := b.list(t, "", "")
	if !l.ReadOnly || l.Campaigns[0].State != enqueue.CampaignRunning || len(l.Campaigns[0].Actions) != 0 {
		t.Errorf("read-only list: %+v, want read_only, running, no actions", l)
	}
	_, body := get(t, b.base+config.PathCampaigns, "", "")
	if strings.Contains(body, "<button") || strings.Contains(body, "data-verb") || !strings.Contains(body, config.EnvUIReadOnly) ||
		!strings.Contains(body, `data-name="spring"`) {
		t.Errorf("read-only page: want the campaign, no buttons and a note naming %s\n%s", config.EnvUIReadOnly, body)
	}
}

func TestCampaignsPage_NeedsCredentials(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{User: "ops", Password: "s3cret pass"})
	b.campaign(t, "spring", 1)
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, b.base + config.PathCampaigns},
		{http.MethodGet, b.base + config.PathCampaigns + "campaigns.js"},
		{http.MethodGet, b.base + campaignsAPI},
		{http.MethodPost, b.changeURL("spring", "pause")},
	} {
		for _, cred := range [][2]string{{"", ""}, {"ops", "wrong"}} {
			if code, body := do(t, c.method, c.url, cred[0], cred[1]); code != http.StatusUnauthorized || strings.Contains(body, "spring") {
				t.Errorf("%s %s as %q: %d, want 401\n%.200s", c.method, c.url, cred[0], code, body)
			}
		}
	}
	if l := b.list(t, "ops", "s3cret pass"); l.Campaigns[0].State != enqueue.CampaignRunning {
		t.Fatalf("the unauthorized pause changed spring: %+v", l.Campaigns[0])
	}
	if code, body := do(t, http.MethodPost, b.changeURL("spring", "pause"), "ops", "s3cret pass"); code != http.StatusOK {
		t.Errorf("pause with credentials: %d\n%s", code, body)
	}
}

// A browser's cross-site POST carries the basic auth along: it is refused.
func TestCampaignsPage_RefusesCrossOriginPost(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	b.campaign(t, "spring", 1)
	req, err := http.NewRequest(http.MethodPost, b.changeURL("spring", "cancel"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	if l := b.list(t, "", ""); l.Campaigns[0].State != enqueue.CampaignRunning {
		t.Errorf("the cross-site POST changed spring: %+v", l.Campaigns[0])
	}
}

func TestCampaignsPage_RedisDown(t *testing.T) {
	t.Parallel()
	b := setupCampaigns(t, config.UI{})
	b.campaign(t, "spring", 1)
	b.list(t, "", "") // connected
	b.redis.Close()
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, b.base + campaignsAPI},
		{http.MethodPost, b.changeURL("spring", "pause")},
	} {
		code, body := do(t, c.method, c.url, "", "")
		if m := decode(t, body); code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(m["error"]), "Redis") {
			t.Errorf("%s %s with Redis down: %d %s, want 503 naming Redis", c.method, c.url, code, body)
		}
	}
	if code, body := get(t, b.base+config.PathCampaigns, "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "Redis does not answer") {
		t.Errorf("the page with Redis down: %d, want 503 saying so\n%s", code, body)
	}
}

// Redis is down from the start: the page connects on first use, so notifyd
// starts, and it answers 503 until Redis answers.
func TestCampaignsPage_RedisDownFromTheStart(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	p := &Process{Config: &config.Config{HTTPAddr: "127.0.0.1:0", RedisURL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}}
	h, err := NewUI(p)
	if err != nil {
		t.Fatalf("NewUI without Redis: %v", err)
	}
	t.Cleanup(func() { _ = h.(*uiHandler).Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if code, body := get(t, srv.URL+campaignsAPI, "", ""); code != http.StatusServiceUnavailable {
		t.Errorf("GET %s without Redis: %d, want 503\n%s", campaignsAPI, code, body)
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	t.Cleanup(m.Close)
	if code, body := get(t, srv.URL+campaignsAPI, "", ""); code != http.StatusOK {
		t.Errorf("GET %s once Redis answers: %d, want 200\n%s", campaignsAPI, code, body)
	}
}

// notifyd serves the page on its listener, next to asynqmon.
func TestStart_ServesCampaignsPage(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if code, body := get(t, b.base+config.PathCampaigns, "", ""); code != http.StatusOK || !strings.Contains(body, "Campaigns") {
		t.Fatalf("GET %s: %d\n%.300s", config.PathCampaigns, code, body)
	}
	resp, err := http.Get(b.base + strings.TrimSuffix(config.PathCampaigns, "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != config.PathCampaigns {
		t.Errorf("GET /campaigns: %d at %s, want 200 at %s", resp.StatusCode, resp.Request.URL.Path, config.PathCampaigns)
	}
}

// The script sets what the server sends as text: names come from users.
func TestCampaignsScript_WritesNoHTML(t *testing.T) {
	t.Parallel()
	js, err := campaignsFiles.ReadFile("campaigns.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), sink) {
			t.Errorf("campaigns.js uses %s", sink)
		}
	}
}
