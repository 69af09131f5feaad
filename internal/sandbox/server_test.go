package sandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"OneKeyOnly":       {AccessKey: "a"},
		"NegativeWindow":   {Window: -time.Second},
		"RateOverOne":      {Faults: Faults{ErrorRate: 1.5}},
		"RatesOverOne":     {Faults: Faults{ErrorRate: 0.6, TimeoutRate: 0.6}},
		"SlowWithoutDelay": {Faults: Faults{SlowRate: 0.1}},
		"ScriptWithoutRef": {Faults: Faults{Scripts: []Script{{FirstN: 1, Status: 500}}}},
		"ScriptStatus":     {Faults: Faults{Scripts: []Script{{Ref: "r", FirstN: 1, Status: 99}}}},
		"SystemPath":       {SystemPath: "no-slash"},
		"AdminSystemPath":  {SystemPath: "/_sandbox/x"},
		"NegativeDailyCap": {DailyCap: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New(%+v) = nil error, want one", name, cfg)
		}
	}
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if limit, window := srv.Limit(); limit != 25 || window != 5*time.Second || srv.SystemPath() != leadsquared.DefaultSystemNotificationPath {
		t.Fatalf("defaults: %d/%s on %s", limit, window, srv.SystemPath())
	}
}

func TestServer_Auth(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name    string
		headers []string
		path    string
		msg     string
	}{
		{"NoKeys", []string{leadsquared.AccessKeyHeader, "", leadsquared.SecretKeyHeader, ""}, leadsquared.PushPath, "x-LSQ-AccessKey and x-LSQ-SecretKey headers"},
		{"NoSecretKey", []string{leadsquared.SecretKeyHeader, ""}, leadsquared.PushPath, "are required"},
		{"WrongSecretKey", []string{leadsquared.SecretKeyHeader, testSecretKey + "x"}, leadsquared.PushPath, "invalid"},
		{"WrongAccessKey", []string{leadsquared.AccessKeyHeader, "someone-else"}, leadsquared.PushPath, "invalid"},
		{"KeysInTheQuery", nil, leadsquared.PushPath + "?accessKey=" + testAccessKey + "&secretKey=" + testSecretKey, "send them in the x-LSQ-AccessKey"},
		{"KeysInTheQueryOnly", []string{leadsquared.AccessKeyHeader, "", leadsquared.SecretKeyHeader, ""}, leadsquared.PushPath + "?AccessKey=a&SECRETKEY=b", "query string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			got := b.serve(t, request(http.MethodPost, tc.path, validPush, tc.headers...))
			wantException(t, tc.name, got, http.StatusUnauthorized, ExceptionUnauthorized, tc.msg)
			if strings.Contains(got.Body, testAccessKey) || strings.Contains(got.Body, testSecretKey) {
				t.Fatalf("the answer echoes a key: %s", got.Body)
			}
			st := b.srv.Stats()
			if st.Counted != 0 || st.ByStatus[401] != 1 {
				t.Fatalf("stats %+v: want one 401, not counted", st)
			}
			c := b.srv.Calls()[0]
			if c.Path != leadsquared.PushPath || c.Status != 401 || c.Exception != ExceptionUnauthorized {
				t.Fatalf("call %+v: want the path without its query, status 401", c)
			}
		})
	}

	t.Run("AnyPairWhenUnconfigured", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.AccessKey, c.SecretKey = "", "" })
		wantStatus(t, "any pair", b.push(t, leadsquared.AccessKeyHeader, "k1", leadsquared.SecretKeyHeader, "s1"), 200)
		wantStatus(t, "an empty secret key", b.push(t, leadsquared.AccessKeyHeader, "k1", leadsquared.SecretKeyHeader, ""), 401)
	})

	t.Run("KeysNeverRecorded", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.push(t)
		b.push(t, leadsquared.SecretKeyHeader, "wrong-secret")
		b.serve(t, request(http.MethodPost, leadsquared.PushPath+"?accessKey="+testAccessKey, validPush))
		b.serve(t, request(http.MethodGet, leadsquared.KeyCheckPath, ""))
		all, _ := json.Marshal(struct {
			Calls []Call
			Stats Stats
		}{b.srv.Calls(), b.srv.Stats()})
		for _, secret := range []string{testAccessKey, testSecretKey, "wrong-secret"} {
			if strings.Contains(string(all), secret) {
				t.Fatalf("a key is recorded: %s", all)
			}
		}
	})
}

func TestServer_Routes(t *testing.T) {
	t.Parallel()
	b := setup(t)

	wantException(t, "unknown path", b.serve(t, request("POST", "/v2/Notifier.svc/Browser.Pushh", validPush)),
		404, ExceptionNotFound, "check the API signature: /v2/Notifier.svc/Browser.Pushh")
	wantException(t, "path in another case", b.serve(t, request("POST", strings.ToLower(leadsquared.PushPath), validPush)),
		404, ExceptionNotFound, "")
	got := b.serve(t, request("GET", leadsquared.PushPath, ""))
	wantException(t, "GET push", got, 405, ExceptionMethod, "use POST")
	if got.Header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q, want POST", got.Header.Get("Allow"))
	}
	wantException(t, "POST key check", b.serve(t, request("POST", leadsquared.KeyCheckPath, "{}")), 405, ExceptionMethod, "use GET")

	t.Run("CustomSystemPath", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.SystemPath = "/v2/Custom.svc/Notify" })
		wantStatus(t, "custom path", b.serve(t, request("POST", "/v2/Custom.svc/Notify", validSystem)), 200)
		wantStatus(t, "default path", b.serve(t, request("POST", leadsquared.DefaultSystemNotificationPath, validSystem)), 404)
	})
}

func TestServer_Answers(t *testing.T) {
	t.Parallel()

	t.Run("System", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got := b.system(t, validSystem)
		wantStatus(t, "system", got, 200)
		id, _ := got.JSON["MessageID"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}_1772442000000$`).MatchString(id) || got.JSON["Success"] != true {
			t.Fatalf("body %s: want a MessageID <uuid>_<unix ms of t0> and Success true", got.Body)
		}
		if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		c := b.srv.Calls()[0]
		if c.Kind != KindSystem || !c.Accepted || !c.Counted || c.Ref != "ref-1" || c.User != testUser || c.MessageID != id || c.Seq != 1 || !c.Time.Equal(t0) {
			t.Fatalf("call %+v", c)
		}
	})

	t.Run("Push", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got := b.push(t, leadsquared.RequestIDHeader, "task-7")
		if got.Status != 200 || got.Body != `{"Status":"Success","Message":{"Message":"Message broadcasted successfully"}}` {
			t.Fatalf("push: %d %s", got.Status, got.Body)
		}
		noUser := `{"Title":"t","Content":"c"}`
		wantStatus(t, "push without UserId", b.serve(t, request("POST", leadsquared.PushPath, noUser)), 200)
		calls := b.srv.Calls()
		if calls[0].Kind != KindPush || calls[0].Ref != "task-7" || calls[0].User != testUser {
			t.Fatalf("call %+v: want ref task-7 from X-Request-ID, user %s", calls[0], testUser)
		}
		if calls[1].User != ownerID(testAccessKey) || calls[1].Ref != "" {
			t.Fatalf("call %+v: want the keys' owner as the user", calls[1])
		}
	})

	t.Run("SystemRefFromRequestID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		noRef := strings.Replace(validSystem, `"ExternalReferenceId":"ref-1",`, "", 1)
		wantStatus(t, "system without ExternalReferenceId", b.system(t, noRef, leadsquared.RequestIDHeader, "task-9"), 200)
		b.system(t, validSystem, leadsquared.RequestIDHeader, "task-10")
		calls := b.srv.Calls()
		if calls[0].Ref != "task-9" || calls[1].Ref != "ref-1" {
			t.Fatalf("refs %q, %q: want task-9 (header), ref-1 (body wins)", calls[0].Ref, calls[1].Ref)
		}
	})

	t.Run("KeyCheck", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		req := request("GET", leadsquared.KeyCheckPath, "")
		req.Host = "127.0.0.1:8089"
		got := b.serve(t, req)
		wantStatus(t, "key check", got, 200)
		var u leadsquared.User
		if err := json.Unmarshal([]byte(got.Body), &u); err != nil {
			t.Fatal(err)
		}
		if u.Id != ownerID(testAccessKey) || u.Role != "Administrator" || u.OrgId == "" || u.Name == "" || u.APIHost() != "127.0.0.1:8089" {
			t.Fatalf("user %+v", u)
		}
		if c := b.srv.Calls()[0]; c.Kind != KindKeyCheck || c.Accepted || !c.Counted {
			t.Fatalf("call %+v: a key check is counted, never accepted", c)
		}
	})
}

func TestServer_StrictBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		path   string
		body   string
		header []string
		status int
		parts  []string
	}{
		{"LowerCaseName", leadsquared.DefaultSystemNotificationPath, strings.Replace(validSystem, `"Message"`, `"message"`, 1), nil, 400,
			[]string{`CardContents.message: unknown field (names are case-sensitive: did you mean "Message"?)`}},
		{"LowerCaseTopLevel", leadsquared.PushPath, `{"title":"t","Content":"c"}`, nil, 400, []string{`title: unknown field (names are case-sensitive: did you mean "Title"?)`}},
		{"UnknownField", leadsquared.PushPath, `{"Title":"t","Content":"c","Priority":1}`, nil, 400, []string{"Priority: unknown field"}},
		{"RepeatedField", leadsquared.PushPath, `{"Title":"t","Content":"c","Title":"u"}`, nil, 400, []string{"Title: repeated"}},
		{"WrongType", leadsquared.PushPath, `{"Title":7,"Content":"c"}`, nil, 400, []string{"Title: expected a string, got number"}},
		{"WrongNestedType", leadsquared.DefaultSystemNotificationPath, `{"Type":"Lead","CardContents":"hi","ToUser":"` + testUser + `"}`, nil, 400, []string{"CardContents: expected a JSON object, got a string"}},
		{"NotAnObject", leadsquared.PushPath, `["Title"]`, nil, 400, []string{"body: expected a JSON object, got an array"}},
		{"Invalid", leadsquared.PushPath, `{"Title":"t",`, nil, 400, []string{"body: not valid JSON"}},
		{"TwoValues", leadsquared.PushPath, validPush + validPush, nil, 400, []string{"more data follows"}},
		{"Empty", leadsquared.PushPath, " ", nil, 400, []string{"body: empty"}},
		{"ContentType", leadsquared.PushPath, validPush, []string{"Content-Type", "text/plain"}, 400, []string{`Content-Type: "text/plain" is not application/json`}},
		{"NoContentType", leadsquared.PushPath, validPush, []string{"Content-Type", ""}, 400, []string{"Content-Type"}},
		{"TooLarge", leadsquared.PushPath, `{"Title":"` + strings.Repeat("x", MaxBodyBytes) + `","Content":"c"}`, nil, 413, []string{"larger than 65536 bytes"}},
		{"Validation", leadsquared.DefaultSystemNotificationPath,
			strings.Replace(strings.Replace(validSystem, testUser, "nobody", 1), "New lead assigned", strings.Repeat("m", 201), 1), nil, 400,
			[]string{"CardContents.Message: 201 characters, over the limit of 200", `ToUser: "nobody" is not a GUID`, "; "}},
		{"PushTooLong", leadsquared.PushPath, `{"Title":"` + strings.Repeat("t", 2000) + `","Content":"` + strings.Repeat("c", 100) + `"}`, nil, 400,
			[]string{"Title+Content: 2100 bytes together, over the limit of 2048 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			got := b.serve(t, request(http.MethodPost, tc.path, tc.body, tc.header...))
			wantException(t, tc.name, got, tc.status, ExceptionInvalidInput, "")
			_, msg := got.exception()
			for _, p := range tc.parts {
				if !strings.Contains(msg, p) {
					t.Fatalf("message %q lacks %q", msg, p)
				}
			}
			if c := b.srv.Calls()[0]; !c.Counted || c.Accepted {
				t.Fatalf("call %+v: a refused body is counted, not accepted", c)
			}
		})
	}

	t.Run("CharsetAllowed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		wantStatus(t, "charset", b.push(t, "Content-Type", "application/json; charset=utf-8"), 200)
	})

	t.Run("NullsAndOptionalObjects", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		body := `{"Type":"Lead","CardContents":{"Message":"m","CTA":null},"ToUser":"` + testUser + `","ExternalSource":null}`
		wantStatus(t, "nulls", b.system(t, body), 200)
	})
}
