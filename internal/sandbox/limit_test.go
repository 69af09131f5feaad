package sandbox

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

func TestServer_Window(t *testing.T) {
	t.Parallel()

	t.Run("EdgesOfTheWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		wantStatus(t, "call 1 at t0", b.push(t), 200)
		b.clock.Advance(time.Second)
		for i := 2; i <= 25; i++ {
			wantStatus(t, fmt.Sprintf("call %d at t0+1s", i), b.push(t), 200)
		}
		b.clock.Set(t0.Add(5*time.Second - time.Nanosecond))
		wantException(t, "call 26 just inside the window", b.push(t), http.StatusTooManyRequests,
			ExceptionRateLimit, "API calls exceeded the limit of 25 in 5 second(s)")
		b.clock.Set(t0.Add(5 * time.Second))
		wantStatus(t, "a call exactly Window after the first", b.push(t), 200)
		wantException(t, "the next call at the same instant", b.push(t), http.StatusTooManyRequests, ExceptionRateLimit, "limit of 25")

		st := b.srv.Stats()
		if st.Total != 28 || st.Accepted != 26 || st.Counted != 26 || st.RateLimited != 2 || st.MaxInWindow != 25 {
			t.Fatalf("stats %+v: want Total 28, Accepted 26, Counted 26, RateLimited 2, MaxInWindow 25", st)
		}
		if st.Limit != 25 || st.Window != 5*time.Second || st.ByStatus[429] != 2 {
			t.Fatalf("stats %+v: want Limit 25/5s and two 429s", st)
		}
	})

	t.Run("LimitAndWindowFromConfig", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit, c.Window = 2, 10*time.Second })
		b.push(t)
		b.push(t)
		wantException(t, "third call", b.push(t), 429, ExceptionRateLimit, "API calls exceeded the limit of 2 in 10 second(s)")
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.AccessKey, c.SecretKey, c.Limit = "", "", 3 })
		for range 3 {
			wantStatus(t, "key A", b.push(t, leadsquared.AccessKeyHeader, "key-A"), 200)
		}
		wantStatus(t, "key A over its limit", b.push(t, leadsquared.AccessKeyHeader, "key-A"), 429)
		for range 3 {
			wantStatus(t, "key B", b.push(t, leadsquared.AccessKeyHeader, "key-B"), 200)
		}
		wantStatus(t, "key B over its limit", b.push(t, leadsquared.AccessKeyHeader, "key-B"), 429)
		if st := b.srv.Stats(); st.MaxInWindow != 3 || st.Accepted != 6 {
			t.Fatalf("stats %+v: want MaxInWindow 3 (per key) and 6 accepted", st)
		}
		calls := b.srv.Calls()
		if calls[0].KeyID == calls[4].KeyID || calls[0].KeyID != keyID("key-A") || len(calls[0].KeyID) != 8 {
			t.Fatalf("key ids %q and %q: want 8 hex digits, one per key", calls[0].KeyID, calls[4].KeyID)
		}
	})

	t.Run("LimitAs200", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit, c.LimitAs200 = 1, true })
		b.push(t)
		got := b.push(t)
		wantException(t, "second call", got, http.StatusOK, ExceptionRateLimit, "limit of 1 in 5 second(s)")
		if st := b.srv.Stats(); st.RateLimited != 1 || st.Accepted != 1 || st.ByStatus[200] != 2 {
			t.Fatalf("stats %+v: want 1 rate limited, 1 accepted, two HTTP 200", st)
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit = -1 })
		for range 100 {
			wantStatus(t, "unlimited", b.push(t), 200)
		}
		b.clock.Advance(5 * time.Second)
		b.push(t)
		if st := b.srv.Stats(); st.MaxInWindow != 100 || st.Limit != -1 {
			t.Fatalf("stats %+v: want MaxInWindow 100 and Limit -1", st)
		}
	})

	t.Run("RefusedCallsDoNotCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit = 2 })
		b.push(t)
		b.push(t)
		for range 10 {
			wantStatus(t, "limited", b.push(t), 429)
			wantStatus(t, "wrong keys", b.push(t, leadsquared.SecretKeyHeader, "wrong"), 401)
		}
		b.clock.Advance(5 * time.Second)
		wantStatus(t, "after the window, despite the refused calls", b.push(t), 200)
		wantStatus(t, "second after the window", b.push(t), 200)
	})

	t.Run("BadRequestsCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit = 3 })
		for range 3 {
			wantStatus(t, "invalid body", b.serve(t, request("POST", leadsquared.PushPath, `{"Title":""}`)), 400)
		}
		wantStatus(t, "valid body after 3 invalid ones", b.push(t), 429)
		if st := b.srv.Stats(); st.Counted != 3 || st.Accepted != 0 {
			t.Fatalf("stats %+v: want 3 counted, none accepted", st)
		}
	})

	t.Run("KeyChecksCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit = 1 })
		wantStatus(t, "key check", b.serve(t, request("GET", leadsquared.KeyCheckPath, "")), 200)
		wantStatus(t, "push after the key check", b.push(t), 429)
	})

	t.Run("MemoryStaysWithinTheWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Limit, c.MaxCalls = -1, -1 })
		for range 1000 {
			b.push(t)
			b.clock.Advance(time.Second)
		}
		ks := b.srv.lim.state(testAccessKey)
		if ks.n != 5 || len(ks.ring) > 8 {
			t.Fatalf("after 1000 calls 1s apart: %d kept in a ring of %d, want 5 in at most 8", ks.n, len(ks.ring))
		}
	})
}

func TestServer_DailyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.DailyCap, c.Limit = 3, -1
		c.Faults.RetryAfter = time.Second
	})
	b.clock.Set(time.Date(2026, 3, 2, 23, 59, 0, 0, time.UTC))
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("call %d of the day", i+1), b.push(t), 200)
	}
	b.clock.Set(time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC))
	got := b.push(t)
	wantException(t, "over the cap", got, 429, ExceptionRateLimit, "daily limit of 3 calls")
	if got.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1 (the seconds to 00:00 UTC)", got.Header.Get("Retry-After"))
	}
	b.clock.Set(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC))
	wantStatus(t, "at 00:00 UTC", b.push(t), 200)
	// A zone other than UTC does not move the rollover.
	ist := time.FixedZone("IST", 5*3600+1800)
	b.clock.Set(time.Date(2026, 3, 3, 23, 0, 0, 0, ist)) // 17:30 UTC, the same UTC day
	b.push(t)
	b.push(t)
	wantStatus(t, "fourth call of the UTC day", b.push(t), 429)
}

func TestServer_Concurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.AccessKey, c.SecretKey, c.Limit = "", "", 10 })
	done := make(chan struct{})
	for g := range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				b.push(t, leadsquared.AccessKeyHeader, fmt.Sprintf("key-%d", g%4))
			}
		}()
	}
	for range 20 {
		<-done
	}
	st := b.srv.Stats()
	if st.Total != 1000 || st.Accepted != 40 || st.RateLimited != 960 || st.MaxInWindow != 10 {
		t.Fatalf("stats %+v: want 1000 calls, 4 keys × 10 accepted, 960 limited, MaxInWindow 10", st)
	}
}
