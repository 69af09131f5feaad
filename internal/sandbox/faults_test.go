package sandbox

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

func TestServer_Scripts(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.Faults.Scripts = []Script{
			{Ref: "r500", FirstN: 2, Status: 500},
			{Ref: "r400", FirstN: 1, Status: 400},
			{Ref: "r401", FirstN: 1, Status: 401},
			{Ref: "r429", FirstN: 1, Status: 429},
			{Ref: "r503", FirstN: 1, Status: 503},
			{Ref: "r201", FirstN: 1, Status: 201},
		}
		c.Faults.RetryAfter = 3 * time.Second
	})
	wantException(t, "first r500", b.system(t, systemWithRef("r500")), 500, ExceptionServer, "scripted")
	wantException(t, "second r500, by X-Request-ID", b.push(t, leadsquared.RequestIDHeader, "r500"), 500, ExceptionServer, "")
	wantStatus(t, "third r500", b.system(t, systemWithRef("r500")), 200)
	wantException(t, "r400", b.system(t, systemWithRef("r400")), 400, ExceptionInvalidInput, "")
	wantException(t, "r401", b.system(t, systemWithRef("r401")), 401, ExceptionUnauthorized, "")
	got := b.system(t, systemWithRef("r429"))
	wantException(t, "r429", got, 429, ExceptionRateLimit, "API calls exceeded the limit of 25 in 5 second(s)")
	if got.Header.Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q, want 3", got.Header.Get("Retry-After"))
	}
	got = b.system(t, systemWithRef("r503"))
	if got.Status != 503 || !strings.Contains(got.Body, "Service Temporarily Unavailable") {
		t.Fatalf("r503: %d %s", got.Status, got.Body)
	}
	got = b.system(t, systemWithRef("r201"))
	if got.Status != 201 || got.JSON["Success"] != true {
		t.Fatalf("r201: %d %s, want a success with status 201", got.Status, got.Body)
	}
	wantStatus(t, "other ref", b.system(t, systemWithRef("other")), 200)

	// An invalid body is refused before any script and spends none of it.
	b2 := setup(t, func(c *Config) { c.Faults.Scripts = []Script{{Ref: "r", FirstN: 1, Status: 500}} })
	wantStatus(t, "invalid body with a scripted ref", b2.serve(t, request("POST", leadsquared.PushPath, `{}`, leadsquared.RequestIDHeader, "r")), 400)
	wantStatus(t, "valid body with the scripted ref", b2.push(t, leadsquared.RequestIDHeader, "r"), 500)
	if f := b2.srv.Faults(); f.Scripts[0].FirstN != 0 {
		t.Fatalf("faults %+v: want the script used up", f)
	}

	st := b.srv.Stats()
	if st.Faulted != 7 || st.Counted != 9 || st.Accepted != 3 || st.PerRef["r500"] != 1 || st.RateLimited != 1 {
		t.Fatalf("stats %+v: want 7 faulted, 9 counted, 3 accepted, r500 delivered once, 1 rate limited", st)
	}
}

func TestServer_Burst429(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.Limit = 3
		c.Faults = Faults{Burst429: 2, RetryAfter: 1500 * time.Millisecond}
	})
	wantStatus(t, "keyless call during the burst", b.push(t, leadsquared.AccessKeyHeader, ""), 401)
	for i := range 2 {
		got := b.push(t)
		wantException(t, "burst", got, 429, ExceptionRateLimit, "limit of 3 in 5 second(s)")
		if got.Header.Get("Retry-After") != "2" {
			t.Fatalf("burst %d: Retry-After %q, want 2 (1.5s rounded up)", i, got.Header.Get("Retry-After"))
		}
	}
	for range 3 {
		wantStatus(t, "after the burst, the window is whole", b.push(t), 200)
	}
	if f := b.srv.Faults(); f.Burst429 != 0 {
		t.Fatalf("Burst429 left: %d", f.Burst429)
	}
	calls := b.srv.Calls()
	if calls[1].Fault != FaultBurst429 || calls[1].Counted {
		t.Fatalf("call %+v: want a burst429 fault, not counted", calls[1])
	}

	b.srv.SetFaults(Faults{Burst429: 1})
	b2 := setup(t, func(c *Config) { c.LimitAs200 = true; c.Faults.Burst429 = 1 })
	wantException(t, "burst with LimitAs200", b2.push(t), 200, ExceptionRateLimit, "limit of 25")
}

func TestServer_Outage(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Faults.Outage = true })
	for _, req := range []*http.Request{
		request("POST", leadsquared.PushPath, validPush),
		request("POST", leadsquared.PushPath, validPush, leadsquared.AccessKeyHeader, ""),
		request("GET", leadsquared.KeyCheckPath, ""),
	} {
		got := b.serve(t, req)
		if got.Status != 503 || !strings.HasPrefix(got.Header.Get("Content-Type"), "text/html") || got.JSON != nil {
			t.Fatalf("during the outage: %d %q %s, want 503 with an HTML page", got.Status, got.Header.Get("Content-Type"), got.Body)
		}
	}
	wantStatus(t, "control paths still work", b.serve(t, request("GET", PathStats, "")), 200)
	if err := b.srv.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "after the outage", b.push(t), 200)
	if st := b.srv.Stats(); st.Counted != 1 || st.ByStatus[503] != 3 || st.Faulted != 3 {
		t.Fatalf("stats %+v: want the 503s uncounted", st)
	}
}

func TestServer_ErrorRate(t *testing.T) {
	t.Parallel()
	statuses := func(seed int64) []int {
		b := setup(t, func(c *Config) { c.Limit, c.Seed, c.Faults.ErrorRate = -1, seed, 0.3 })
		var out []int
		for range 1000 {
			out = append(out, b.push(t).Status)
		}
		return out
	}
	a, again, other := statuses(42), statuses(42), statuses(43)
	if !slices.Equal(a, again) {
		t.Fatal("the same seed gave different faults")
	}
	if slices.Equal(a, other) {
		t.Fatal("different seeds gave the same faults")
	}
	n := 0
	for _, s := range a {
		if s == 500 {
			n++
		}
	}
	if n < 240 || n > 360 {
		t.Fatalf("%d of 1000 calls failed with ErrorRate 0.3", n)
	}
}

func TestServer_SlowAndLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.Latency = 100 * time.Millisecond
		c.Faults = Faults{SlowRate: 1, SlowDelay: 2 * time.Second}
	})
	wantStatus(t, "slow", b.push(t), 200)
	wantStatus(t, "401 with latency", b.push(t, leadsquared.SecretKeyHeader, "x"), 401)
	wantStatus(t, "stats, no latency", b.serve(t, request("GET", PathStats, "")), 200)
	if got := b.sleep.Slept(); !slices.Equal(got, []time.Duration{2100 * time.Millisecond, 100 * time.Millisecond}) {
		t.Fatalf("slept %v, want [2.1s 100ms]", got)
	}
	if c := b.srv.Calls()[0]; c.Fault != FaultSlow || c.Latency != 2100*time.Millisecond || !c.Accepted {
		t.Fatalf("call %+v", c)
	}
}

func TestServer_ClientLeavesDuringLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Latency = time.Minute })
	b.sleep.block = true
	b.sleep.called = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	req := request("POST", leadsquared.PushPath, validPush, leadsquared.RequestIDHeader, "task-1").WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-b.sleep.called
	cancel()
	<-done
	c := b.srv.Calls()[0]
	if !c.Accepted || !c.Abandoned || c.Status != 200 {
		t.Fatalf("call %+v: want delivered (accepted) but abandoned", c)
	}
	if st := b.srv.Stats(); st.PerRef["task-1"] != 1 || st.Abandoned != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServer_TimeoutRate(t *testing.T) {
	t.Parallel()

	t.Run("HeldUntilTheClientLeaves", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Faults.TimeoutRate = 1 })
		ctx, cancel := context.WithCancel(context.Background())
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.srv.ServeHTTP(rec, request("POST", leadsquared.PushPath, validPush, leadsquared.RequestIDHeader, "held").WithContext(ctx))
		}()
		testutil.Eventually(t, 5*time.Second, func() bool { return b.srv.Stats().Held == 1 }, "the call is held")
		b.clock.Advance(3 * time.Second)
		cancel()
		<-done
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Fatalf("a held call was answered: %q", rec.Body.String())
		}
		c := b.srv.Calls()[0]
		if c.Status != 0 || c.Fault != FaultTimeout || !c.Accepted || !c.Abandoned || !c.Counted || c.Latency != 3*time.Second {
			t.Fatalf("call %+v: want held 3s, delivered, never answered", c)
		}
		if st := b.srv.Stats(); st.ByStatus[0] != 1 || st.Held != 0 || st.PerRef["held"] != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("CloseAbortsHeldCalls", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Faults.TimeoutRate = 1 })
		hs := httptest.NewServer(b.srv)
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("POST", hs.URL+leadsquared.PushPath, strings.NewReader(validPush))
			req.Header = request("POST", leadsquared.PushPath, validPush).Header
			resp, err := hs.Client().Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				err = errors.New("answered: " + resp.Status + " " + string(body))
			}
			errc <- err
		}()
		testutil.Eventually(t, 5*time.Second, func() bool { return b.srv.Stats().Held == 1 }, "the call is held")
		b.srv.Close()
		hs.Close() // returns once the held call is released
		if err := <-errc; err == nil || strings.Contains(err.Error(), "answered") {
			t.Fatalf("client got %v, want a broken connection", err)
		}
		if c := b.srv.Calls()[0]; c.Status != 0 || c.Abandoned {
			t.Fatalf("call %+v: want held, aborted by Close", c)
		}
	})
}

func TestServer_SetFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.srv.SetFaults(Faults{ErrorRate: 2}); err == nil {
		t.Fatal("SetFaults accepted ErrorRate 2")
	}
	scripts := []Script{{Ref: "r", FirstN: 1, Status: 500}}
	if err := b.srv.SetFaults(Faults{Scripts: scripts}); err != nil {
		t.Fatal(err)
	}
	scripts[0].FirstN = 100 // the server keeps its own copy
	b.push(t, leadsquared.RequestIDHeader, "r")
	if f := b.srv.Faults(); f.Scripts[0].FirstN != 0 {
		t.Fatalf("faults %+v", f)
	}
	wantStatus(t, "script used up", b.push(t, leadsquared.RequestIDHeader, "r"), 200)
}

// A 2xx whose body is not LeadSquared's JSON (a proxy rewrote it): the
// notification was delivered, and the answer does not say so.
func TestServer_NonJSONRate(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Faults.NonJSONRate = 1 })
	for _, got := range []result{b.system(t, systemWithRef("n1")), b.push(t, leadsquared.RequestIDHeader, "n2")} {
		if got.Status != 200 || got.JSON != nil || !strings.Contains(got.Body, "<html>") {
			t.Fatalf("non-JSON fault: %d %q, want 200 with an HTML body", got.Status, got.Body)
		}
	}
	st := b.srv.Stats()
	if st.Accepted != 2 || st.Faulted != 2 || st.PerRef["n1"] != 1 || st.PerRef["n2"] != 1 {
		t.Fatalf("stats %+v: want both delivered, both faulted", st)
	}
	for _, c := range b.srv.Calls() {
		if c.Fault != FaultNonJSON || !c.Accepted {
			t.Fatalf("call %+v: want fault %q, accepted", c, FaultNonJSON)
		}
	}
	if err := b.srv.SetFaults(Faults{NonJSONRate: 0.6, ErrorRate: 0.5}); err == nil || !strings.Contains(err.Error(), "over 1") {
		t.Fatalf("rates summing over 1: %v", err)
	}
}
