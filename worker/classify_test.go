package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// asynq keeps a retry's due time in whole seconds, truncated: the delay must
// end on a whole second, never before the backoff or Retry-After.
func TestToWholeSecond(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 830_000_000, time.UTC)
	for _, tc := range []struct{ d, want time.Duration }{
		{0, 0},
		{-time.Second, -time.Second},
		{750 * time.Millisecond, 1170 * time.Millisecond}, // due 9:00:01.58 -> 9:00:02
		{170 * time.Millisecond, 170 * time.Millisecond},  // due 9:00:01 exactly
		{2 * time.Second, 2170 * time.Millisecond},
	} {
		got := toWholeSecond(now, tc.d)
		if got != tc.want {
			t.Errorf("toWholeSecond(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

// runAt is when asynq runs a retry given the delay: it stores
// time.Now().Add(d).Unix() and forwards the task once that second has come.
func runAt(d time.Duration) time.Time { return time.Unix(time.Now().Add(d).Unix(), 0) }

func TestBackoff_RetryDelayNeverEarly(t *testing.T) {
	f := Backoff{}.RetryDelay()
	for n := range 5 {
		lo := time.Duration(float64(time.Second<<n) * 0.7)
		for range 50 {
			start := time.Now()
			if at := runAt(f(n, errors.New("500"), nil)); at.Before(start.Add(lo)) {
				t.Fatalf("retry %d runs %s after the failure, before the backoff's minimum %s", n, at.Sub(start), lo)
			}
		}
	}
	start := time.Now()
	ra := &leadsquared.Error{StatusCode: 503, RetryAfter: 5 * time.Second}
	if at := runAt(f(0, ra, nil)); at.Before(start.Add(5 * time.Second)) {
		t.Errorf("Retry-After 5s: the retry runs %s after the failure", at.Sub(start))
	}
}

// The documented schedule: about 1 s first, doubling, capped at 5 min, each
// delay spread ±30%; a configured Backoff follows its own parameters.
func TestBackoff_Delay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		b      Backoff
		first  time.Duration
		cap    time.Duration
		jitter float64
	}{
		{"Defaults", Backoff{}, time.Second, 5 * time.Minute, 0.3},
		{"Configured", Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Jitter: 0.1},
			100 * time.Millisecond, 300 * time.Millisecond, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range []int{0, 1, 2, 3, 5, 8, 9, 10, 12, 63, 64, 1000} {
				interval := tc.cap
				if n < 32 && tc.first<<n < tc.cap {
					interval = tc.first << n
				}
				lo := time.Duration(float64(interval) * (1 - tc.jitter))
				hi := time.Duration(float64(interval) * (1 + tc.jitter))
				for range 200 {
					if d := tc.b.delay(n); d < lo || d > hi {
						t.Fatalf("retry %d: delay %s, want %s to %s", n, d, lo, hi)
					}
				}
			}
		})
	}
	t.Run("Spread", func(t *testing.T) {
		t.Parallel()
		lo, hi := time.Hour, time.Duration(0)
		for range 500 {
			d := Backoff{}.delay(0)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > 800*time.Millisecond || hi < 1200*time.Millisecond {
			t.Errorf("first retry's delays span %s to %s in 500 draws; want them spread over 0.7 s to 1.3 s", lo, hi)
		}
	})
}

// An archived task's last error is what an operator reads in asynqmon and
// `notifyctl dlq list`: the reason and LeadSquared's answer, once each.
func TestArchive_ReadsAsReasonAndCause(t *testing.T) {
	cause := &leadsquared.Error{Op: "system", StatusCode: 400, Kind: leadsquared.KindPermanent,
		ExceptionType: "MXInvalidInputException", ExceptionMessage: "Message is required"}
	err := archive("LeadSquared refused the notification", cause)
	want := "LeadSquared refused the notification: " + cause.Error()
	if err.Error() != want {
		t.Errorf("archive: %q, want %q", err, want)
	}
	var le *leadsquared.Error
	if !errors.Is(err, asynq.SkipRetry) || !errors.As(err, &le) || le != cause {
		t.Errorf("archive(%v) must unwrap to asynq.SkipRetry and its cause", err)
	}
	if !IsFailure(err) || outcomeOf(err) != OutcomeArchived {
		t.Errorf("archive: IsFailure %v, outcome %q; want a failure, archived", IsFailure(err), outcomeOf(err))
	}
}
