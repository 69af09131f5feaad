package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Rate is a rate limit: Calls per sliding Window.
type Rate = leadsquared.Limit

// Policy is an account's limit as the limiter applies it.
type Policy struct {
	// Rate is the configured limit (default 25/5s).
	Rate Rate
	// Margin widens the window to absorb network jitter between our clock and
	// LeadSquared's arrival times (default 100ms).
	Margin time.Duration
	// DailyLimit caps calls per UTC day (0: none).
	DailyLimit int
	// DailyReserve is the part of DailyLimit that only transactional work may use.
	DailyReserve int
}

// HaltedError means the account is halted by a credentials or configuration fault.
type HaltedError struct {
	Account string
	Reason  string
}

func (e *HaltedError) Error() string {
	return fmt.Sprintf("account %q is halted: %s", e.Account, e.Reason)
}

// DailyCapError means the account's daily cap is reached for this lane.
type DailyCapError struct {
	Account  string
	ResumeIn time.Duration
}

func (e *DailyCapError) Error() string {
	return fmt.Sprintf("account %q reached its daily limit; resumes in %s", e.Account, e.ResumeIn.Round(time.Second))
}

// BusyError means the account's next free slot is further away than a
// worker may wait (about one window): the task is handed back, to run again
// when the account has budget, and the worker takes other work meanwhile.
type BusyError struct {
	Account string
	// RetryIn is how far away the account's next free slot was.
	RetryIn time.Duration
	// Reason says what holds the account: "cool-down" or its booked slots.
	Reason string
}

func (e *BusyError) Error() string {
	what := "its next free slot"
	if e.Reason != "" {
		what = "its " + e.Reason
	}
	return fmt.Sprintf("account %q has no slot within the wait limit: %s ends in %s; task handed back", e.Account, what, e.RetryIn.Round(time.Millisecond))
}

// laneKeyCheck books a key check: LeadSquared counts it like any call, so it
// takes a slot, at transactional priority, even while the account is halted.
const laneKeyCheck tasks.Lane = "keycheck"

// minTolerance is the least lateness a slot may have: timer and scheduling
// noise, far below any margin worth setting.
const minTolerance = 5 * time.Millisecond

// ErrStopping is returned by Wait when the worker is shutting down: the task
// goes back to its queue without a call to LeadSquared.
var ErrStopping = errors.New("notifyd is shutting down: task handed back without calling LeadSquared")

// slotStatus is what the limiter's scripts answer (see ratelimit_lua.go).
type slotStatus int64

// The scripts' statuses.
const (
	slotGranted slotStatus = 0 // call now
	slotBooked  slotStatus = 1 // sleep, then claim
	slotHalted  slotStatus = 2 // the account is halted
	slotCapped  slotStatus = 3 // the daily cap is reached
	slotRebook  slotStatus = 4 // the booking was dropped: book again
	slotBusy    slotStatus = 5 // the slot is further than the wait limit: nothing booked
)

// Limiter grants call slots under each account's global limit. Every worker in
// every process that shares the Redis shares the limit.
type Limiter struct {
	rdb       redis.Cmdable
	prefix    string
	seq       atomic.Uint64
	tolerance func(Policy) time.Duration
	// maxWait is the longest a worker waits for a slot; a further slot is
	// not booked and Wait returns a *BusyError (default: the window plus the
	// margin; 0 waits for any slot).
	maxWait func(Policy) time.Duration
	// appendOnly books after the latest slot instead of the earliest gap
	// (the FIFO scheduler, kept for comparison).
	appendOnly bool
	// booked, when set, is told of every bulk booking that must wait: the
	// dispatch scheduler holds the account's next release until then.
	booked func(account string, wait time.Duration)
	// freed, when set, is told of every bulk booking given up before its
	// time (a stop, a task's deadline): the dispatch scheduler releases
	// other work at once, so that the gap is filled.
	freed func(account string)
	// switched is when the Redis server last changed (nil: never); for one
	// span from then, nothing is granted (see failover.go).
	switched atomic.Pointer[time.Time]
	// onSwitch, when set, is told of each change of Redis server.
	onSwitch func(from, to string)

	// now, when set, replaces Redis's clock (tests only).
	now func() time.Time
	// sleep waits d or until ctx is done or stop is closed.
	sleep func(ctx context.Context, stop <-chan struct{}, d time.Duration) error
}

// NewLimiter returns a limiter on the given Redis (a client, a cluster client
// or a ring).
func NewLimiter(rdb redis.Cmdable) *Limiter {
	return &Limiter{
		rdb:    rdb,
		prefix: uuid.NewString()[:8] + ":",
		sleep:  sleepCtx,
		// A slot claimed later than half the margin is given back, so that the
		// rest of the margin still covers network jitter. The floor keeps a
		// zero margin from rebooking every slot over microseconds.
		tolerance: func(p Policy) time.Duration { return max(p.Margin/2, minTolerance) },
		maxWait:   func(p Policy) time.Duration { return p.Span() },
	}
}

// Span is the window the limiter keeps: the rate's window plus the margin.
func (p Policy) Span() time.Duration { return p.Rate.Window + p.Margin }

// Pace is the least time between two of the account's calls: Span/Calls,
// rounded up to the microsecond as the scripts round it.
func (p Policy) Pace() time.Duration {
	span := p.Span().Microseconds()
	calls := int64(max(p.Rate.Calls, 1))
	return time.Duration((span+calls-1)/calls) * time.Microsecond
}

// Grant is a slot the caller may use now.
type Grant struct {
	// Waited is how long the caller waited for the slot.
	Waited time.Duration
}

// Wait blocks until the account may make one call in the given lane, then
// returns. It spends no retry budget: it only waits, and never longer than
// about one window (the span): a slot further away is not booked, and Wait
// returns a *BusyError at once. It returns a *HaltedError, a *DailyCapError,
// ErrStopping when stop is closed, ctx's error, or a Redis error; the Grant
// says how long it waited in every case.
//
// A slot is only good near its time: a call made later than the tolerance
// (half the margin, at least minTolerance) after its slot could meet the calls booked a window
// later inside LeadSquared's window. Wait checks the lateness on Redis's clock
// when it claims the slot and again on this host's clock as its last step, and
// gives a late slot back and books again rather than return it.
//
// For one span after the Redis server behind the limiter's client changed (a
// Sentinel failover), Wait grants nothing: the old master's last bookings
// may be lost (see failover.go).
func (l *Limiter) Wait(ctx context.Context, stop <-chan struct{}, account string, lane tasks.Lane, p Policy) (Grant, error) {
	start := time.Now()
	for {
		if err := l.holdAfterSwitch(ctx, stop, account, lane, p); err != nil {
			return Grant{Waited: time.Since(start)}, err
		}
		id := l.prefix + strconv.FormatUint(l.seq.Add(1), 36)
		due, err := l.slot(ctx, stop, account, lane, id, p)
		if err != nil {
			return Grant{Waited: time.Since(start)}, err
		}
		if time.Since(due) <= l.tolerance(p) && l.switchPause(p) <= 0 {
			return Grant{Waited: time.Since(start)}, nil
		}
		// Late (this host stalled after the claim), or the server changed
		// while the slot was booked.
		l.release(account, id)
	}
}

// slot books and claims one slot; it returns when the slot was due, on this
// host's monotonic clock.
func (l *Limiter) slot(ctx context.Context, stop <-chan struct{}, account string, lane tasks.Lane, id string, p Policy) (time.Time, error) {
	for {
		status, wait, detail, err := l.book(ctx, account, lane, id, p)
		if err != nil {
			return time.Time{}, err
		}
		switch status {
		case slotGranted:
			return time.Now(), nil
		case slotHalted:
			return time.Time{}, &HaltedError{Account: account, Reason: detail}
		case slotCapped:
			return time.Time{}, &DailyCapError{Account: account, ResumeIn: wait}
		case slotBusy:
			if detail == "" {
				detail = "booked slots"
			}
			return time.Time{}, &BusyError{Account: account, RetryIn: wait, Reason: detail}
		}
		if lane == tasks.LaneBulk && l.booked != nil {
			l.booked(account, wait)
		}
		due, rebookIn, err := l.await(ctx, stop, account, lane, id, wait, p)
		if err != nil {
			return time.Time{}, err
		}
		if rebookIn < 0 {
			return due, nil
		}
		if longest := l.longestWait(lane, p); longest > 0 && rebookIn > longest {
			// A cool-down began after the booking: hand the task back
			// rather than hold the worker through it.
			return time.Time{}, &BusyError{Account: account, RetryIn: rebookIn, Reason: "cool-down"}
		}
		if err := l.sleep(ctx, stop, rebookIn); err != nil {
			return time.Time{}, err
		}
	}
}

// await sleeps until a booking's time and claims it. It returns when the
// claimed slot was due and -1, or how long to wait before booking again.
func (l *Limiter) await(ctx context.Context, stop <-chan struct{}, account string, lane tasks.Lane, id string, wait time.Duration, p Policy) (time.Time, time.Duration, error) {
	for {
		if err := l.sleep(ctx, stop, wait); err != nil {
			l.release(account, id)
			if lane == tasks.LaneBulk && l.freed != nil {
				l.freed(account)
			}
			return time.Time{}, 0, err
		}
		status, next, detail, err := l.claim(ctx, account, lane, id, p)
		if err != nil {
			l.release(account, id)
			return time.Time{}, 0, err
		}
		switch status {
		case slotGranted:
			return time.Now().Add(-next), -1, nil // next: how late the claim was
		case slotBooked:
			wait = next
		case slotHalted:
			return time.Time{}, 0, &HaltedError{Account: account, Reason: detail}
		case slotCapped:
			return time.Time{}, 0, &DailyCapError{Account: account, ResumeIn: next}
		default:
			return time.Time{}, next, nil
		}
	}
}

func (l *Limiter) book(ctx context.Context, account string, lane tasks.Lane, id string, p Policy) (slotStatus, time.Duration, string, error) {
	k := []string{keys.Slots(account), keys.Pending(account), keys.Cooldown(account),
		keys.Adopted(account), keys.Halt(account), keys.Daily(account)}
	longest := l.longestWait(lane, p)
	fill := "1"
	if l.appendOnly {
		fill = "0"
	}
	res, err := bookScript.Run(ctx, l.rdb, k,
		p.Rate.Calls, p.Rate.Window.Microseconds(), p.Margin.Microseconds(),
		laneArg(lane), id, p.DailyLimit, p.DailyReserve, l.nowArg(),
		longest.Microseconds(), fill).Slice()
	if err != nil {
		return 0, 0, "", fmt.Errorf("rate limiter: book a slot for account %q: %w", account, err)
	}
	return parseResult(res)
}

func (l *Limiter) claim(ctx context.Context, account string, lane tasks.Lane, id string, p Policy) (slotStatus, time.Duration, string, error) {
	k := []string{keys.Slots(account), keys.Pending(account), keys.Cooldown(account), keys.Halt(account), keys.Daily(account)}
	res, err := claimScript.Run(ctx, l.rdb, k, id, l.tolerance(p).Microseconds(), l.nowArg(), laneArg(lane),
		p.DailyLimit, p.DailyReserve).Slice()
	if err != nil {
		return 0, 0, "", fmt.Errorf("rate limiter: claim a slot for account %q: %w", account, err)
	}
	return parseResult(res)
}

// longestWait is how long a booking of the lane may wait (0: any).
func (l *Limiter) longestWait(lane tasks.Lane, p Policy) time.Duration {
	if l.maxWait == nil || lane == laneKeyCheck {
		return 0
	}
	return l.maxWait(p)
}

func laneArg(lane tasks.Lane) string {
	switch lane {
	case tasks.LaneTransactional:
		return "t"
	case laneKeyCheck:
		return "k"
	}
	return "b"
}

// release gives back a booking that will not be used; best effort, because
// an unused booking only leaves a gap in the window, which the next booking
// fills.
func (l *Limiter) release(account, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, l.rdb, []string{keys.Slots(account), keys.Pending(account)}, id).Err()
}

// CoolDown makes every worker of the account wait d before its next call. It
// never shortens a cool-down in force.
func (l *Limiter) CoolDown(ctx context.Context, account string, d time.Duration, reason string) error {
	ms := max(d.Milliseconds(), 1)
	if err := coolDownScript.Run(ctx, l.rdb, []string{keys.Cooldown(account)}, ms, reason).Err(); err != nil {
		return fmt.Errorf("rate limiter: start a cool-down for account %q: %w", account, err)
	}
	return nil
}

// Adopt makes the account's limiter use r (a lower limit LeadSquared stated)
// for ttl. It reports whether r is lower than the policy's configured rate.
func (l *Limiter) Adopt(ctx context.Context, account string, r Rate, p Policy, ttl time.Duration) (bool, error) {
	if r.Calls <= 0 || r.Window <= 0 || !slower(r, p.Rate) {
		return false, nil
	}
	k := keys.Adopted(account)
	pipe := l.rdb.TxPipeline()
	pipe.HSet(ctx, k, "calls", r.Calls, "window_us", r.Window.Microseconds())
	pipe.Expire(ctx, k, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("rate limiter: adopt %s for account %q: %w", r, account, err)
	}
	return true, nil
}

// Effective returns the rate the account's limiter applies now: an adopted
// lower limit, or the policy's.
func (l *Limiter) Effective(ctx context.Context, account string, p Policy) (Rate, error) {
	vals, err := l.rdb.HMGet(ctx, keys.Adopted(account), "calls", "window_us").Result()
	if err != nil {
		return p.Rate, err
	}
	calls, err1 := strconv.Atoi(fmt.Sprint(vals[0]))
	us, err2 := strconv.ParseInt(fmt.Sprint(vals[1]), 10, 64)
	if vals[0] == nil || vals[1] == nil || err1 != nil || err2 != nil {
		return p.Rate, nil
	}
	return Rate{Calls: calls, Window: time.Duration(us) * time.Microsecond}, nil
}

// slower reports whether a allows fewer calls than b over the longer window.
func slower(a, b Rate) bool {
	return float64(a.Calls)/a.Window.Seconds() < float64(b.Calls)/b.Window.Seconds() ||
		(a.Window == b.Window && a.Calls < b.Calls)
}

func (l *Limiter) nowArg() string {
	if l.now == nil {
		return ""
	}
	return strconv.FormatInt(l.now().UnixMicro(), 10)
}

func parseResult(res []any) (slotStatus, time.Duration, string, error) {
	if len(res) != 3 {
		return 0, 0, "", fmt.Errorf("rate limiter: unexpected script answer %v", res)
	}
	status, _ := res[0].(int64)
	us, _ := res[1].(int64)
	detail, _ := res[2].(string)
	return slotStatus(status), time.Duration(us) * time.Microsecond, detail, nil
}

func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		select {
		case <-stop:
			return ErrStopping
		default:
			return ctx.Err()
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-stop:
		return ErrStopping
	case <-ctx.Done():
		return ctx.Err()
	}
}
