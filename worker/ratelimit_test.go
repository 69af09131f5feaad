package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// simClock is a simulated clock that the limiter's sleeps advance.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type limiterBundle struct {
	lim   *Limiter
	clock *simClock
	acct  string
}

// setupLimiter returns a limiter on a private Redis with a simulated clock;
// each test gets its own account, so keys never collide.
func setupLimiter(t *testing.T) *limiterBundle {
	t.Helper()
	r := testutil.StartRedis(t)
	clock := &simClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	lim := NewLimiter(r.Client())
	lim.now = clock.Now
	lim.sleep = func(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
		clock.Advance(d)
		return nil
	}
	return &limiterBundle{lim: lim, clock: clock, acct: strings.ReplaceAll(t.Name(), "/", "_")}
}

var strict = Policy{Rate: Rate{Calls: 5, Window: time.Second}, Margin: 0}

func TestLimiter_Wait_FirstCallIsImmediateThenPaced(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	start := b.clock.Now()
	var got []time.Duration
	for i := 0; i < 11; i++ {
		if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.clock.Now().Sub(start))
	}
	// 5 per second, paced: one slot every 200ms, never two in one spacing.
	for i, d := range got {
		if want := time.Duration(i) * 200 * time.Millisecond; d != want {
			t.Errorf("call %d granted at +%s, want +%s", i, d, want)
		}
	}
}

func TestLimiter_Wait_SlidingWindowEdge(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 3, Window: 900 * time.Millisecond}, Margin: 100 * time.Millisecond}
	// span = 1s, spacing = 333.333ms; the 4th call must come exactly one span after the 1st.
	start := b.clock.Now()
	var at []time.Duration
	for i := 0; i < 4; i++ {
		if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneTransactional, p); err != nil {
			t.Fatal(err)
		}
		at = append(at, b.clock.Now().Sub(start))
	}
	if at[3]-at[0] < time.Second {
		t.Fatalf("4th call %s after the 1st, want >= window+margin = 1s (grants %v)", at[3]-at[0], at)
	}
	if at[3]-at[0] > time.Second+time.Millisecond {
		t.Fatalf("4th call %s after the 1st: the limiter wasted budget (grants %v)", at[3]-at[0], at)
	}
}

// TestLimiter_Wait_SlidingWindowEdgeLargeLimit is the edge above for a
// larger limit: pacing alone (span/calls, floored to a microsecond) would
// grant call calls+1 a microsecond early; the window must not.
func TestLimiter_Wait_SlidingWindowEdgeLargeLimit(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 99, Window: time.Second}}
	start := b.clock.Now()
	var last time.Duration
	for i := 0; i <= p.Rate.Calls; i++ {
		if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, p); err != nil {
			t.Fatal(err)
		}
		last = b.clock.Now().Sub(start)
	}
	if last < time.Second || last > time.Second+time.Millisecond {
		t.Fatalf("call %d granted %s after the 1st, want the window, 1s, exactly", p.Rate.Calls+1, last)
	}
}

func TestLimiter_Wait_WindowAfterIdleBurstOfOne(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Advance(10 * time.Second) // idle: the window empties
	// Granted at once: the limiter never slept, so the simulated clock did
	// not move (Grant.Waited is wall time, round trips included: not a
	// figure to test on a loaded machine).
	before := b.clock.Now()
	if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict); err != nil {
		t.Fatal(err)
	}
	if slept := b.clock.Now().Sub(before); slept != 0 {
		t.Fatalf("after an idle window the first call waited %s for its slot", slept)
	}
}

func TestLimiter_Wait_TransactionalTakesBulkBooking(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	// Grant one now, then book two bulk slots without sleeping (+200ms, +400ms).
	if _, _, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, "b0", strict); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b1", "b2"} {
		st, _, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, id, strict)
		if err != nil || st != 1 {
			t.Fatalf("book %s: status %d, %v; want 1 (booked)", id, st, err)
		}
	}
	st, wait, _, err := b.lim.book(ctx, b.acct, tasks.LaneTransactional, "t1", strict)
	if err != nil || st != 1 || wait != 200*time.Millisecond {
		t.Fatalf("transactional booking: status %d wait %s err %v; want the first bulk slot at +200ms", st, wait, err)
	}
	// b1 was moved behind b2.
	b.clock.Advance(200 * time.Millisecond)
	st, wait, _, _ = b.lim.claim(ctx, b.acct, tasks.LaneBulk, "b1", strict)
	if st != 1 || wait != 400*time.Millisecond {
		t.Fatalf("claim of the taken bulk booking: status %d wait %s; want 1 and +400ms more", st, wait)
	}
	if st, _, _, _ = b.lim.claim(ctx, b.acct, tasks.LaneTransactional, "t1", strict); st != 0 {
		t.Fatalf("claim of the transactional booking: status %d, want 0", st)
	}
}

func TestLimiter_Claim_LateWorkerRebooks(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 5, Window: time.Second}, Margin: 100 * time.Millisecond}
	b.lim.book(ctx, b.acct, tasks.LaneBulk, "first", p)
	if st, _, _, _ := b.lim.book(ctx, b.acct, tasks.LaneBulk, "late", p); st != 1 {
		t.Fatalf("want a booking")
	}
	b.clock.Advance(220*time.Millisecond + 51*time.Millisecond) // slot at +220ms, tolerance 50ms
	st, _, _, err := b.lim.claim(ctx, b.acct, tasks.LaneBulk, "late", p)
	if err != nil || st != 4 {
		t.Fatalf("late claim: status %d, %v; want 4 (rebook)", st, err)
	}
}

func TestLimiter_Wait_CoolDownDelaysEveryone(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	if err := b.lim.CoolDown(ctx, b.acct, 3*time.Second, "429"); err != nil {
		t.Fatal(err)
	}
	if err := b.lim.CoolDown(ctx, b.acct, time.Second, "shorter"); err != nil {
		t.Fatal(err)
	}
	// A cool-down longer than the wait limit (the 1 s span) books nothing:
	// the task is handed back rather than held for 3 s.
	st, wait, detail, err := b.lim.book(ctx, b.acct, tasks.LaneTransactional, "x", strict)
	if err != nil || st != slotBusy || wait < 2900*time.Millisecond || detail != "cool-down" {
		t.Fatalf("booking during a 3s cool-down: status %d wait %s %q err %v; want busy, about 3s, cool-down", st, wait, detail, err)
	}
	_, err = b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict)
	var be *BusyError
	if !errors.As(err, &be) || be.RetryIn < 2900*time.Millisecond {
		t.Fatalf("Wait during a 3s cool-down: %v; want a BusyError of about 3s", err)
	}
	// Within the wait limit, a booking waits the cool-down out.
	short := b.acct + "short"
	if err := b.lim.CoolDown(ctx, short, 500*time.Millisecond, "429"); err != nil {
		t.Fatal(err)
	}
	st, wait, _, err = b.lim.book(ctx, short, tasks.LaneTransactional, "y", strict)
	if err != nil || st != slotBooked || wait < 400*time.Millisecond || wait > 500*time.Millisecond {
		t.Fatalf("booking during a 0.5 s cool-down: status %d wait %s err %v; want booked about 0.5 s on", st, wait, err)
	}
}

func TestLimiter_Wait_LongLineOfBookingsHandsBack(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	// strict paces 200 ms apart with a 1 s span: six bookings (+0 … +1 s)
	// fill the wait limit, and the seventh would wait 1.2 s, beyond it.
	for i := 0; i < 6; i++ {
		if st, _, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, fmt.Sprint("b", i), strict); err != nil || st > slotBooked {
			t.Fatalf("booking %d: status %d err %v", i, st, err)
		}
	}
	st, wait, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, "b6", strict)
	if err != nil || st != slotBusy || wait != 1200*time.Millisecond {
		t.Fatalf("7th booking: status %d wait %s err %v; want busy for 1.2s", st, wait, err)
	}
	if n := b.lim.rdb.ZCard(ctx, keys.Slots(b.acct)).Val(); n != 6 {
		t.Fatalf("%d slots booked; a busy answer must book nothing", n)
	}
}

func TestLimiter_Book_FillsTheGapOfAReleasedBooking(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	var waits []time.Duration
	for i := 0; i < 4; i++ {
		_, w, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, fmt.Sprint("b", i), strict)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
	}
	// Bookings at +0, +200, +400, +600 ms; the one at +400 is given up (a
	// worker stopped): the next booking takes its place, not +800 ms.
	b.lim.release(b.acct, "b2")
	_, w, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, "next", strict)
	if err != nil || w != waits[2] {
		t.Fatalf("after giving up the booking at %s: the next booking waits %s (err %v), want %s", waits[2], w, err, waits[2])
	}
	_, w, _, _ = b.lim.book(ctx, b.acct, tasks.LaneBulk, "after", strict)
	if w != 800*time.Millisecond {
		t.Fatalf("with no gap left the next booking waits %s, want 800ms", w)
	}
	// Append-only (the FIFO scheduler) never fills a gap.
	b.lim.release(b.acct, "next")
	b.lim.appendOnly = true
	_, w, _, _ = b.lim.book(ctx, b.acct, tasks.LaneBulk, "fifo", strict)
	if w != time.Second {
		t.Fatalf("append-only booking waits %s, want 1s (after the latest)", w)
	}
}

func TestLimiter_DailyCap_CountsOnlyCallsMade(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	p := strict
	p.DailyLimit = 3
	if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, p); err != nil {
		t.Fatal(err)
	}
	// Bookings given up (a stop, a late worker) are not calls.
	for i := 0; i < 4; i++ {
		id := fmt.Sprint("given-up", i)
		if st, _, _, err := b.lim.book(ctx, b.acct, tasks.LaneBulk, id, p); err != nil || st != slotBooked {
			t.Fatalf("booking %d: status %d err %v, want booked", i, st, err)
		}
		b.lim.release(b.acct, id)
	}
	for i := 1; i < 3; i++ {
		if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, p); err != nil {
			t.Fatalf("call %d of a daily cap of 3, after 4 bookings given up: %v", i+1, err)
		}
	}
	_, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, p)
	var de *DailyCapError
	if !errors.As(err, &de) {
		t.Fatalf("4th call: %v, want DailyCapError", err)
	}
	day := strconv.FormatInt(b.clock.Now().Unix()/86400, 10)
	if n, _ := b.lim.rdb.HGet(ctx, keys.Daily(b.acct), day).Int(); n != 3 {
		t.Fatalf("the day's count is %d, want the 3 calls made", n)
	}
}

func TestLimiter_Wait_HaltedAndDailyCap(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()

	t.Run("Halted", func(t *testing.T) {
		acct := b.acct + "h"
		if err := b.lim.rdb.Set(ctx, keys.Halt(acct), "401 from LeadSquared", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := b.lim.Wait(ctx, nil, acct, tasks.LaneBulk, strict)
		var he *HaltedError
		if !errors.As(err, &he) || he.Reason != "401 from LeadSquared" {
			t.Fatalf("got %v, want a HaltedError with the reason", err)
		}
	})
	t.Run("DailyCapKeepsReserve", func(t *testing.T) {
		acct := b.acct + "d"
		p := strict
		p.DailyLimit, p.DailyReserve = 3, 1
		for i := 0; i < 2; i++ {
			if _, err := b.lim.Wait(ctx, nil, acct, tasks.LaneBulk, p); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.lim.Wait(ctx, nil, acct, tasks.LaneBulk, p)
		var de *DailyCapError
		if !errors.As(err, &de) {
			t.Fatalf("3rd bulk call: %v, want DailyCapError", err)
		}
		if _, err := b.lim.Wait(ctx, nil, acct, tasks.LaneTransactional, p); err != nil {
			t.Fatalf("transactional call within the reserve: %v", err)
		}
		if _, err := b.lim.Wait(ctx, nil, acct, tasks.LaneTransactional, p); !errors.As(err, &de) {
			t.Fatalf("transactional call over the cap: %v, want DailyCapError", err)
		}
		b.clock.Advance(de.ResumeIn)
		if _, err := b.lim.Wait(ctx, nil, acct, tasks.LaneBulk, p); err != nil {
			t.Fatalf("bulk call after the day turned: %v", err)
		}
	})
}

func TestLimiter_Adopt_LowerLimitOnly(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 25, Window: 5 * time.Second}}
	if ok, _ := b.lim.Adopt(ctx, b.acct, Rate{Calls: 30, Window: 5 * time.Second}, p, time.Hour); ok {
		t.Fatal("adopted a higher limit")
	}
	if ok, err := b.lim.Adopt(ctx, b.acct, Rate{Calls: 20, Window: 5 * time.Second}, p, time.Hour); !ok || err != nil {
		t.Fatalf("did not adopt a lower limit: %v", err)
	}
	eff, err := b.lim.Effective(ctx, b.acct, p)
	if err != nil || eff != (Rate{Calls: 20, Window: 5 * time.Second}) {
		t.Fatalf("effective = %v, %v; want 20/5s", eff, err)
	}
}

func TestLimiter_Wait_StopHandsBack(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	lim := NewLimiter(r.Client())
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 1, Window: time.Hour}}
	if _, err := lim.Wait(ctx, nil, "stop", tasks.LaneBulk, p); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, err := lim.Wait(ctx, stop, "stop", tasks.LaneBulk, p); !errors.Is(err, ErrStopping) {
		t.Fatalf("got %v, want ErrStopping", err)
	}
	if n := r.Client().ZCard(ctx, keys.Slots("stop")).Val(); n != 1 {
		t.Fatalf("the handed-back booking was not released: %d slots", n)
	}
}

// The concurrency test: several OS processes, each with many goroutines, take
// slots from one Redis with the real clock; no window may hold more than the limit.

const helperEnv = "LSQD_LIMITER_HELPER"

// helperPolicy is the policy of the multi-process test: 10 per second with
// the product's default margin.
var helperPolicy = Policy{Rate: Rate{Calls: 10, Window: time.Second}, Margin: DefaultPolicy.Margin}

func TestLimiter_Wait_ManyProcessesNeverExceedLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("several seconds of real time")
	}
	t.Parallel()
	r := testutil.StartRedis(t)
	const procs, goroutines = 3, 8
	p := helperPolicy
	run := 3 * time.Second
	var outs []*strings.Builder
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLimiterHelperProcess$", "-test.v=false")
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		cmd.Env = append(os.Environ(), helperEnv+"="+fmt.Sprintf("%s|%d|%s", r.Addr, goroutines, run))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	// Goroutines of this process join in too.
	var mu sync.Mutex
	var grants []int64
	lim := NewLimiter(r.Client())
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			takeSlots(lim, p, run, func(ns int64) { mu.Lock(); grants = append(grants, ns); mu.Unlock() })
		}()
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		for _, f := range strings.Fields(outs[i].String()) {
			if ns, err := strconv.ParseInt(f, 10, 64); err == nil {
				grants = append(grants, ns)
			}
		}
	}
	sort.Slice(grants, func(i, j int) bool { return grants[i] < grants[j] })
	maxIn := maxInWindow(grants, p.Rate.Window)
	t.Logf("%d grants from %d processes x %d goroutines in %s; max %d in any %s (limit %d)",
		len(grants), procs+1, goroutines, run, maxIn, p.Rate.Window, p.Rate.Calls)
	if maxIn > p.Rate.Calls {
		t.Fatalf("%d grants in one %s window, limit %d", maxIn, p.Rate.Window, p.Rate.Calls)
	}
	// Slots whose goroutine stalls past the tolerance are given back (safety
	// first), so a loaded machine uses less than all of the budget; a limiter
	// that under-grants still fails this floor.
	full := float64(p.Rate.Calls) * run.Seconds() / (p.Rate.Window + p.Margin).Seconds()
	if min := int(0.6 * full); len(grants) < min {
		t.Fatalf("only %d grants in %s, want at least %d (60%% of %.0f): budget wasted", len(grants), run, min, full)
	}
}

// TestLimiterHelperProcess is not a test: it is the body of a helper process
// of TestLimiter_Wait_ManyProcessesNeverExceedLimit.
func TestLimiterHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	parts := strings.Split(spec, "|")
	goroutines, _ := strconv.Atoi(parts[1])
	run, _ := time.ParseDuration(parts[2])
	r := testutil.StartRedisAt(t, parts[0])
	lim := NewLimiter(r.Client())
	p := helperPolicy
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			takeSlots(lim, p, run, func(ns int64) { mu.Lock(); fmt.Println(ns); mu.Unlock() })
		}()
	}
	wg.Wait()
}

func takeSlots(lim *Limiter, p Policy, run time.Duration, record func(int64)) {
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	for {
		if _, err := lim.Wait(ctx, nil, "shared", tasks.LaneBulk, p); err != nil {
			return
		}
		record(time.Now().UnixNano())
	}
}

// maxInWindow returns the most sorted times that fall in any half-open window [t, t+w).
func maxInWindow(sorted []int64, w time.Duration) int {
	best, j := 0, 0
	for i := range sorted {
		for sorted[i]-sorted[j] >= int64(w) {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestLimiter_Wait_CoolDownAfterBookingHandsBack(t *testing.T) {
	t.Parallel()
	b := setupLimiter(t)
	ctx := context.Background()
	if _, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict); err != nil {
		t.Fatal(err)
	}
	// The next call books +200 ms; a 1 h cool-down starts before its claim.
	var longest time.Duration
	b.lim.sleep = func(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
		b.clock.Advance(d)
		longest = max(longest, d)
		return b.lim.CoolDown(ctx, b.acct, time.Hour, "429")
	}
	_, err := b.lim.Wait(ctx, nil, b.acct, tasks.LaneBulk, strict)
	var be *BusyError
	if !errors.As(err, &be) || be.RetryIn < 59*time.Minute || longest > time.Second {
		t.Fatalf("a cool-down of 1 h after the booking: %v after sleeping up to %s; want a BusyError at once, not an hour's sleep", err, longest)
	}
}
