package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

const (
	fuzzAccess = "fuzz-access-key-0001"
	fuzzSecret = "fuzz-secret-key-0001"
	fuzzGUID   = "2f5508b5-f7ed-11ea-b39f-122cab85b441"
)

// fuzzServer is a fresh sandbox without faults: nothing it answers may be a 5xx.
func fuzzServer(t *testing.T) *Server {
	s, err := New(Config{AccessKey: fuzzAccess, SecretKey: fuzzSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzServer_ServeHTTP sends one request of any shape (route, method,
// query, content type, keys, body) to a fresh sandbox without faults.
// Properties: no panic and no 5xx; API answers are JSON with a correct
// Content-Length; unknown paths answer 404, bad or missing keys 401; and the
// sandbox is never laxer than leadsquared.Validate: a notification it
// accepts decodes and validates.
func FuzzServer_ServeHTTP(f *testing.F) {
	sys := `{"Type":"Lead","CardContents":{"Message":"New lead"},"ToUser":"` + fuzzGUID + `"}`
	push := `{"UserId":"` + fuzzGUID + `","Title":"Hot lead","Content":"Call now"}`
	f.Add(uint8(0), "POST", "", "", "application/json", uint8(0), "lead-42", []byte(sys))
	f.Add(uint8(1), "POST", "", "", "application/json; charset=utf-8", uint8(0), "", []byte(push))
	f.Add(uint8(2), "GET", "", "", "", uint8(0), "", []byte(nil))
	f.Add(uint8(0), "POST", "", "accessKey=x", "application/json", uint8(3), "", []byte(sys))
	f.Add(uint8(0), "POST", "", "", "text/plain", uint8(0), "", []byte(sys))
	f.Add(uint8(0), "PUT", "", "", "application/json", uint8(1), "", []byte(sys))
	f.Add(uint8(1), "POST", "", "", "application/json", uint8(2), "", []byte(`{"title":"x","Content":1}`))
	f.Add(uint8(0), "POST", "", "", "application/json", uint8(0), "", []byte(`{"Type":"Lead","Type":"Task"} x`))
	f.Add(uint8(3), "GET", "/_sandbox/stats", "", "", uint8(0), "", []byte(nil))
	f.Add(uint8(3), "POST", "/_sandbox/faults", "", "application/json", uint8(0), "", []byte(`{"Outage":true}`))
	f.Add(uint8(3), "GET", "/v2/nowhere", "", "", uint8(0), "", []byte(nil))
	f.Fuzz(func(t *testing.T, route uint8, method, path, query, contentType string, keys uint8, requestID string, body []byte) {
		s := fuzzServer(t)
		defer s.Close()
		kind := ""
		switch route % 4 {
		case 0:
			path, kind = s.SystemPath(), KindSystem
		case 1:
			path, kind = leadsquared.PushPath, KindPush
		case 2:
			path, kind = leadsquared.KeyCheckPath, KindKeyCheck
		default:
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			kind, _ = s.route(path)
		}
		target := "http://sandbox.test" + path
		if query != "" {
			target += "?" + query
		}
		r, err := http.NewRequest(method, target, bytes.NewReader(body))
		if err != nil || r.URL.Path != path {
			t.Skip() // not a request a client could send
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		goodKeys := false
		switch keys % 4 {
		case 0, 3:
			r.Header.Set(leadsquared.AccessKeyHeader, fuzzAccess)
			r.Header.Set(leadsquared.SecretKeyHeader, fuzzSecret)
			goodKeys = !hasQueryKey(r)
		case 2:
			r.Header.Set(leadsquared.AccessKeyHeader, fuzzAccess)
			r.Header.Set(leadsquared.SecretKeyHeader, "wrong")
		}
		if requestID != "" {
			r.Header.Set(leadsquared.RequestIDHeader, requestID)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)

		status := w.Code
		if status < 200 || status >= 500 {
			t.Fatalf("%s %s: status %d (no fault is configured): %s", method, target, status, w.Body)
		}
		if strings.HasPrefix(path, adminPrefix) {
			return
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("answer Content-Type %q, want JSON", ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Errorf("answer is not JSON: %q", w.Body)
		}
		if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
			t.Errorf("Content-Length %s, body %d bytes", cl, w.Body.Len())
		}
		wantMethod := http.MethodPost
		if kind == KindKeyCheck {
			wantMethod = http.MethodGet
		}
		switch {
		case kind == "":
			if status != http.StatusNotFound {
				t.Errorf("unknown path %q: status %d, want 404", path, status)
			}
			return
		case r.Method != wantMethod: // "" is GET
			if status != http.StatusMethodNotAllowed {
				t.Errorf("%q %s: status %d, want 405", r.Method, path, status)
			}
			return
		case !goodKeys:
			if status != http.StatusUnauthorized {
				t.Errorf("bad or missing keys: status %d, want 401", status)
			}
			return
		}
		accepted := s.Stats().Accepted
		if status/100 != 2 {
			if accepted != 0 {
				t.Errorf("status %d but %d accepted", status, accepted)
			}
			return
		}
		if kind != KindKeyCheck && accepted != 1 {
			t.Errorf("status %d but %d accepted", status, accepted)
		}
		var verr error
		switch kind {
		case KindSystem:
			var n leadsquared.SystemNotification
			if err := json.Unmarshal(body, &n); err != nil {
				t.Fatalf("accepted a system body that does not decode: %v: %q", err, body)
			}
			verr = n.Validate()
		case KindPush:
			var n leadsquared.PushNotification
			if err := json.Unmarshal(body, &n); err != nil {
				t.Fatalf("accepted a push body that does not decode: %v: %q", err, body)
			}
			verr = n.Validate()
		}
		if verr != nil {
			t.Fatalf("accepted a body that Validate refuses (%v): %q", verr, body)
		}
		if kind != KindKeyCheck && !isJSON(contentType) {
			t.Fatalf("accepted Content-Type %q", contentType)
		}
	})
}

func hasQueryKey(r *http.Request) bool {
	for name := range r.URL.Query() {
		if strings.EqualFold(name, "accessKey") || strings.EqualFold(name, "secretKey") {
			return true
		}
	}
	return false
}

// FuzzServer_AcceptsWhatValidates: the client's encoding of a notification
// that passes leadsquared.Validate is accepted (200), and one that fails
// is refused (400) naming every field Validate names: the sandbox and
// Validate agree on bodies the client sends.
func FuzzServer_AcceptsWhatValidates(f *testing.F) {
	f.Add(false, "Lead", "New lead", fuzzGUID, "", "")
	f.Add(true, "", "", fuzzGUID, "Hot lead", "Call now")
	f.Add(false, "", strings.Repeat("m", 201), "x", "", "")
	f.Add(true, "", "", "", strings.Repeat("t", 2000), strings.Repeat("c", 100))
	f.Add(false, "Lead", "\xff", fuzzGUID, "", "")
	f.Fuzz(func(t *testing.T, isPush bool, typ, msg, user, title, content string) {
		s := fuzzServer(t)
		defer s.Close()
		var v interface{ Validate() error }
		path := s.SystemPath()
		if isPush {
			v, path = &leadsquared.PushNotification{UserId: user, Title: title, Content: content}, leadsquared.PushPath
		} else {
			v = &leadsquared.SystemNotification{Type: typ, ToUser: user, CardContents: leadsquared.CardContents{Message: msg}}
		}
		body, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		// The sandbox sees what arrives: json.Marshal replaced invalid UTF-8.
		if isPush {
			v = new(leadsquared.PushNotification)
		} else {
			v = new(leadsquared.SystemNotification)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
		verr := v.Validate()
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(leadsquared.AccessKeyHeader, fuzzAccess)
		r.Header.Set(leadsquared.SecretKeyHeader, fuzzSecret)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if verr == nil {
			if w.Code != http.StatusOK || s.Stats().Accepted != 1 {
				t.Fatalf("valid %s refused: %d %s", body, w.Code, w.Body)
			}
			return
		}
		if w.Code != http.StatusBadRequest {
			t.Fatalf("invalid %s (%v) answered %d %s", body, verr, w.Code, w.Body)
		}
		var ve *leadsquared.ValidationError
		if errors.As(verr, &ve) {
			for _, p := range ve.Problems {
				if !strings.Contains(w.Body.String(), p.Field) {
					t.Errorf("the 400 does not name %s: %s", p.Field, w.Body)
				}
			}
		}
	})
}
