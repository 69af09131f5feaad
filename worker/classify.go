package worker

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Outcome is what came of one handler run, as logged (outcome=…) and
// counted in lsqd_deliveries_total{outcome}.
type Outcome string

// Outcomes of one handler run.
const (
	OutcomeDelivered Outcome = "delivered"
	// OutcomeDeliveredUnconfirmed: LeadSquared answered 2xx with a body that
	// is not its answer (or cut short), so it may have delivered: recorded
	// as delivered, not sent again, not a halt.
	OutcomeDeliveredUnconfirmed Outcome = "delivered_unconfirmed"
	OutcomeRetried              Outcome = "retried"      // a transient failure: retried with backoff
	OutcomeRateLimited          Outcome = "rate_limited" // LeadSquared's limit: retried after the cool-down, not a failure
	OutcomeArchived             Outcome = "archived"     // dead-lettered: LeadSquared refused it or retries ran out
	OutcomeHalted               Outcome = "halted"       // the account is halted: retried after the probe, not a failure
	OutcomeHandedBack           Outcome = "handed_back"  // shutdown, daily cap, a busy account: back to the queue, not a failure
	OutcomeExpired              Outcome = "expired"      // its expiry passed before a call: never sent
	OutcomeCancelled            Outcome = "cancelled"    // its campaign was cancelled before a call: never sent
	OutcomePaused               Outcome = "paused"       // its campaign is paused: back to the queue, not a failure
)

// deferral hands a task back to asynq to run again after Delay, without
// counting a failure: asynq keeps its retry count unchanged.
type deferral struct {
	Delay   time.Duration
	Outcome Outcome
	Err     error
}

func (d *deferral) Error() string { return d.Err.Error() }
func (d *deferral) Unwrap() error { return d.Err }

func deferFor(d time.Duration, outcome Outcome, err error) error {
	return &deferral{Delay: max(d, 0), Outcome: outcome, Err: err}
}

// archive wraps err so that asynq archives the task at once. The error
// reads "reason: err", which asynqmon and `notifyctl dlq list` show as the
// task's last error.
func archive(reason string, err error) error {
	return &archived{msg: reason + ": " + err.Error(), err: err}
}

// archived is a failure asynq archives at once: it unwraps to its cause and
// to asynq.SkipRetry, without adding SkipRetry's text to the reason.
type archived struct {
	msg string
	err error
}

func (a *archived) Error() string   { return a.msg }
func (a *archived) Unwrap() []error { return []error{a.err, asynq.SkipRetry} }

// IsFailure tells asynq whether a handler error counts as a failed attempt:
// deferrals (rate limit, halt, daily cap, a busy account, shutdown) do not,
// nor does asynq's lease running out (the process was killed: the task is
// recovered with its retry budget intact).
func IsFailure(err error) bool {
	var d *deferral
	return !errors.As(err, &d) && !errors.Is(err, asynq.ErrLeaseExpired)
}

// Backoff is the retry schedule of transient failures.
type Backoff struct {
	// Initial is the first retry's delay (default 1s).
	Initial time.Duration
	// Max caps a delay (default 5m).
	Max time.Duration
	// Jitter is the randomization factor (default 0.3: ±30%).
	Jitter float64
}

// RetryDelay returns asynq's RetryDelayFunc: a deferral's own delay, else
// exponential backoff with jitter for the n-th retry, never shorter than a
// Retry-After LeadSquared sent.
func (b Backoff) RetryDelay() asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		var d *deferral
		if errors.As(err, &d) {
			return toWholeSecond(time.Now(), d.Delay)
		}
		delay := b.delay(n)
		var le *leadsquared.Error
		if errors.As(err, &le) && le.RetryAfter > delay {
			delay = le.RetryAfter
		}
		return toWholeSecond(time.Now(), delay)
	}
}

// toWholeSecond lengthens a positive delay d from now so that it ends on a
// whole second. asynq stores a retry's due time in whole seconds, truncated
// (processAt.Unix()), so without this a retry could come up to a second
// before its backoff or LeadSquared's Retry-After: 0.17 s after the call for
// a backoff of 1 s ±30%. Rounded up, a retry comes after its delay, and at
// most a second plus asynq's forwarding interval later.
func toWholeSecond(now time.Time, d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	due := now.Add(d)
	if whole := due.Truncate(time.Second); whole.Before(due) {
		due = whole.Add(time.Second)
	}
	return due.Sub(now)
}

// delay is the n-th retry's delay (n = 0 for the first retry): Initial
// doubled n times and capped at Max, then spread by ±Jitter. It is the
// schedule of an exponential backoff (the cap bounds the interval, not the
// spread one), computed directly from n: asynq passes the retry count to a
// stateless RetryDelayFunc, so there is no backoff state to advance.
func (b Backoff) delay(n int) time.Duration {
	interval := cmp.Or(b.Initial, time.Second)
	ceiling := cmp.Or(b.Max, 5*time.Minute)
	jitter := cmp.Or(b.Jitter, 0.3)
	for i := 0; i < n && interval < ceiling; i++ {
		if interval > ceiling/2 {
			interval = ceiling // doubling would pass the cap, or overflow
			break
		}
		interval *= 2
	}
	interval = min(interval, ceiling)
	spread := jitter * float64(interval)
	return time.Duration(float64(interval) - spread + rand.Float64()*2*spread)
}
