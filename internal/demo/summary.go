package demo

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Summary is what a demo run did.
type Summary struct {
	// Lines is the campaign's size; Invalid of its lines were refused at
	// enqueue (nothing enqueued for them), Enqueued were enqueued.
	Lines, Invalid, Enqueued int
	// Transactional counts the transactional notifications enqueued.
	Transactional int
	// Valid is what should settle: Enqueued plus Transactional.
	Valid int
	// Delivered and DeadLettered count the settled notifications (asynq's
	// completed and archived tasks), Queued those still waiting or to be
	// retried (only after an interruption), and Lost the rest of Valid.
	Delivered, DeadLettered, Queued, Lost int
	// Retried counts the attempts LeadSquared answered 5xx (retried), and
	// RateLimited its 429 answers.
	Retried, RateLimited int
	// Calls is how many calls reached LeadSquared (key checks included),
	// and Duplicates the notifications it accepted more than once.
	Calls, Duplicates int
	// MaxInWindow is the most calls LeadSquared counted in any sliding
	// Window; Limit is its limit.
	MaxInWindow, Limit int
	Window             time.Duration
	// TxLatencies are the transactional notifications' times from enqueue
	// to LeadSquared, in the order sent (not yet delivered ones left out).
	TxLatencies []time.Duration
	// Elapsed is the run's duration, from the campaign's enqueue to the
	// last notification settled.
	Elapsed time.Duration
	// Interrupted is true when the run was stopped before the drain ended.
	Interrupted bool
}

// Err says what went wrong: notifications lost, or the limit exceeded
// (a 429, or more calls in a window than the limit). nil means success.
func (s Summary) Err() error {
	var errs []error
	if s.Lost != 0 {
		errs = append(errs, fmt.Errorf("%d of %d notifications neither delivered nor dead-lettered", s.Lost, s.Valid))
	}
	if s.RateLimited > 0 {
		errs = append(errs, fmt.Errorf("LeadSquared answered 429 (rate limited) %d times", s.RateLimited))
	}
	if s.Limit > 0 && s.MaxInWindow > s.Limit {
		errs = append(errs, fmt.Errorf("%d calls in one %s window, over the limit of %d", s.MaxInWindow, s.Window, s.Limit))
	}
	if s.Interrupted {
		errs = append(errs, fmt.Errorf("interrupted with %d notifications still queued (they stay in the embedded Redis, which ends with the demo)", s.Queued))
	}
	return errors.Join(errs...)
}

// TxPercentile returns the q-th percentile (0 to 1, nearest rank) of the
// transactional latencies, or 0 when there are none.
func (s Summary) TxPercentile(q float64) time.Duration {
	if len(s.TxLatencies) == 0 {
		return 0
	}
	l := slices.Clone(s.TxLatencies)
	slices.Sort(l)
	i := int(q*float64(len(l))+0.999999) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// print writes the summary table, in 80 columns.
func (s Summary) print(w io.Writer) {
	fmt.Fprintf(w, "\nSummary: %d campaign lines (%d refused at enqueue), %d transactional notifications\n\n",
		s.Lines, s.Invalid, s.Transactional)
	count := func(name string, n int, note string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-26s%6d  %s", name, n, note), " "))
	}
	text := func(name, value string) { fmt.Fprintf(w, "  %-26s%s\n", name, value) }
	count("delivered", s.Delivered, "LeadSquared accepted them")
	count("dead-lettered", s.DeadLettered, "LeadSquared refused them (400)")
	count("refused at enqueue", s.Invalid, "invalid lines, never enqueued")
	if s.Queued > 0 {
		count("still queued", s.Queued, "not sent yet: the demo was interrupted")
	}
	count("lost", s.Lost, "")
	count("retried attempts", s.Retried, "answered 500, retried with backoff")
	count("rate-limited (429)", s.RateLimited, "")
	count("delivered twice", s.Duplicates, "")
	fmt.Fprintln(w)
	count("calls to LeadSquared", s.Calls, "key checks and retries included")
	count("max calls in a "+s.Window.String()+" window", s.MaxInWindow, fmt.Sprintf("limit %d", s.Limit))
	tx := "none delivered"
	if len(s.TxLatencies) > 0 {
		tx = fmt.Sprintf("p50 %s, max %s (enqueue to LeadSquared, %d sent)",
			roundMs(s.TxPercentile(0.5)), roundMs(s.TxPercentile(1)), s.Transactional)
	}
	text("transactional latency", tx)
	text("elapsed", s.Elapsed.Round(100*time.Millisecond).String())
	fmt.Fprintln(w)
	if err := s.Err(); err != nil {
		fmt.Fprintf(w, "FAILED: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	fmt.Fprintf(w, "OK: nothing lost, and at most %d calls per %s, as LeadSquared allows.\n", s.Limit, s.Window)
}

func roundMs(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
