package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

func TestServer_StatsEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Limit = 2 })
	b.push(t, leadsquared.RequestIDHeader, "a")
	b.push(t, leadsquared.RequestIDHeader, "a")
	b.push(t, leadsquared.RequestIDHeader, "b")
	got := b.serve(t, request("GET", PathStats, ""))
	wantStatus(t, "stats", got, 200)
	var st Stats
	if err := json.Unmarshal([]byte(got.Body), &st); err != nil {
		t.Fatalf("decode %s: %v", got.Body, err)
	}
	want := b.srv.Stats()
	if st.Total != 3 || st.Accepted != 2 || st.RateLimited != 1 || st.ByStatus[429] != 1 || st.Window != 5*time.Second ||
		st.Limit != 2 || !slices.Equal(st.DuplicateRefs, []string{"a"}) || st.PerRef["a"] != 2 || !st.FirstAccepted.Equal(want.FirstAccepted) {
		t.Fatalf("stats over HTTP %+v, want %+v", st, want)
	}
	wantStatus(t, "POST stats", b.serve(t, request("POST", PathStats, "{}")), 405)
	wantStatus(t, "unknown control path", b.serve(t, request("GET", "/_sandbox/nope", "")), 404)
	if b.srv.Stats().Total != 3 {
		t.Fatal("control calls were recorded as API calls")
	}
}

func TestServer_CallsEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 5 {
		b.push(t, leadsquared.RequestIDHeader, string(rune('a'+i)))
		b.clock.Advance(time.Second)
	}
	list := func(query string) []string {
		t.Helper()
		got := b.serve(t, request("GET", PathCalls+query, ""))
		wantStatus(t, "calls"+query, got, 200)
		var calls []Call
		if err := json.Unmarshal([]byte(got.Body), &calls); err != nil {
			t.Fatalf("decode %s: %v", got.Body, err)
		}
		refs := []string{}
		for _, c := range calls {
			refs = append(refs, c.Ref)
		}
		return refs
	}
	since := url.QueryEscape(t0.Add(3 * time.Second).Format(time.RFC3339Nano))
	for query, want := range map[string][]string{
		"":                            {"a", "b", "c", "d", "e"},
		"?limit=2":                    {"d", "e"},
		"?limit=0":                    {},
		"?after=3":                    {"d", "e"},
		"?since=" + since:             {"d", "e"},
		"?after=1&limit=1":            {"e"},
		"?since=2100-01-01T00:00:00Z": {},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("calls%s: refs %v, want %v", query, got, want)
		}
	}
	for _, bad := range []string{"?since=yesterday", "?limit=-1", "?after=x"} {
		wantStatus(t, "calls"+bad, b.serve(t, request("GET", PathCalls+bad, "")), 400)
	}
}

func TestServer_FaultsEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	got := b.serve(t, request("POST", PathFaults, `{"ErrorRate":1,"SlowDelay":"2s","RetryAfter":3000000000,"Scripts":[{"Ref":"r","FirstN":1,"Status":400}]}`))
	wantStatus(t, "set faults", got, 200)
	f := b.srv.Faults()
	if f.ErrorRate != 1 || f.SlowDelay != 2*time.Second || f.RetryAfter != 3*time.Second || len(f.Scripts) != 1 {
		t.Fatalf("faults %+v", f)
	}
	wantStatus(t, "scripted", b.push(t, leadsquared.RequestIDHeader, "r"), 400)
	wantStatus(t, "error rate 1", b.push(t), 500)

	for _, bad := range []string{`{"ErrorRate":2}`, `{"Nope":1}`, `{"SlowDelay":"soon"}`, `[`} {
		got := b.serve(t, request("POST", PathFaults, bad))
		wantStatus(t, "faults "+bad, got, 400)
		if !strings.Contains(got.Body, `"error"`) {
			t.Fatalf("faults %s: body %s", bad, got.Body)
		}
	}
	if b.srv.Faults().ErrorRate != 1 {
		t.Fatal("refused faults changed the faults")
	}
	got = b.serve(t, request("GET", PathFaults, ""))
	if got.Status != 200 || got.JSON["ErrorRate"] != 1.0 {
		t.Fatalf("GET faults: %d %s", got.Status, got.Body)
	}
	wantStatus(t, "clear faults", b.serve(t, request("POST", PathFaults, `{}`)), 200)
	wantStatus(t, "after clearing", b.push(t), 200)
}

func TestServer_Reset(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Limit = 1; c.Faults.Burst429 = 0 })
	b.push(t)
	wantStatus(t, "full window", b.push(t), 429)
	wantStatus(t, "GET reset", b.serve(t, request("GET", PathReset, "")), 405)
	wantStatus(t, "reset", b.serve(t, request("POST", PathReset, "")), 204)
	if st := b.srv.Stats(); st.Total != 0 || len(st.ByStatus) != 0 || st.MaxInWindow != 0 || len(b.srv.Calls()) != 0 {
		t.Fatalf("after Reset: %+v", st)
	}
	wantStatus(t, "window forgotten", b.push(t), 200)
	if c := b.srv.Calls()[0]; c.Seq != 3 {
		t.Fatalf("Seq after Reset: %d, want 3 (Seq never restarts, for pollers of ?after)", c.Seq)
	}
}

func TestServer_Records(t *testing.T) {
	t.Parallel()

	t.Run("RingKeepsTheLatest", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.MaxCalls = 3 })
		for range 5 {
			b.push(t)
		}
		var seqs []uint64
		for _, c := range b.srv.Calls() {
			seqs = append(seqs, c.Seq)
		}
		if !slices.Equal(seqs, []uint64{3, 4, 5}) || b.srv.Stats().Total != 5 {
			t.Fatalf("kept %v, want [3 4 5] of 5", seqs)
		}
	})

	t.Run("NoneKept", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.MaxCalls = -1 })
		b.push(t)
		if len(b.srv.Calls()) != 0 || b.srv.Stats().Accepted != 1 {
			t.Fatal("MaxCalls -1 kept a call or lost its count")
		}
	})

	t.Run("DuplicatesAndFirstLast", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, ref := range []string{"x", "y", "x", "z", "x", "y"} {
			b.system(t, systemWithRef(ref))
			b.clock.Advance(time.Second)
		}
		st := b.srv.Stats()
		if !slices.Equal(st.DuplicateRefs, []string{"x", "y"}) || st.PerRef["x"] != 3 {
			t.Fatalf("duplicates %v, per ref %v", st.DuplicateRefs, st.PerRef)
		}
		if !st.FirstAccepted.Equal(t0) || !st.LastAccepted.Equal(t0.Add(5*time.Second)) {
			t.Fatalf("first %s, last %s", st.FirstAccepted, st.LastAccepted)
		}
	})

	t.Run("OnCall", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var seen []Call
		b := setup(t, func(c *Config) {
			c.OnCall = func(c Call) { mu.Lock(); seen = append(seen, c); mu.Unlock() }
		})
		b.push(t)
		b.push(t, leadsquared.AccessKeyHeader, "")
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen[0].Status != 200 || seen[1].Status != http.StatusUnauthorized || seen[1].Seq != 2 {
			t.Fatalf("OnCall saw %+v", seen)
		}
	})
}

func BenchmarkServer_Push(b *testing.B) {
	srv, err := New(Config{Limit: -1, MaxCalls: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := request("POST", leadsquared.PushPath, validPush)
			srv.ServeHTTP(discard{}, req)
		}
	})
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
