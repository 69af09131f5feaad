package worker

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// After a failover the new master may lack the old one's last bookings
// (here: all of them, on an empty server). The limiter grants nothing for
// one span from the change, so no span holds more than the limit.
func TestLimiter_Wait_PausesOneSpanAfterTheServerChanges(t *testing.T) {
	t.Parallel()
	old, next := testutil.StartPrivateRedis(t), testutil.StartPrivateRedis(t)
	var target atomic.Pointer[string]
	target.Store(&old.Addr)
	rdb := redis.NewClient(&redis.Options{Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, *target.Load())
	}})
	t.Cleanup(func() { _ = rdb.Close() })
	b := &limiterBundle{lim: NewLimiter(rdb), clock: &simClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}, acct: "failover"}
	b.lim.now = b.clock.Now
	b.lim.sleep = func(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
		b.clock.Advance(d)
		return nil
	}
	var switches [][2]string
	b.lim.onSwitch = func(from, to string) { switches = append(switches, [2]string{from, to}) }
	b.lim.watchServer(rdb)

	start := b.clock.Now()
	var at []time.Duration
	grant := func() {
		t.Helper()
		if _, err := b.lim.Wait(context.Background(), nil, b.acct, tasks.LaneBulk, strict); err != nil {
			t.Fatal(err)
		}
		at = append(at, b.clock.Now().Sub(start))
	}
	for i := 0; i < strict.Rate.Calls; i++ {
		grant()
	}
	// The failover: the old master goes, and the client dials the new one.
	target.Store(&next.Addr)
	old.Kill()
	for i := 0; i < strict.Rate.Calls; i++ {
		grant()
	}

	for i := strict.Rate.Calls; i < len(at); i++ {
		if d := at[i] - at[i-strict.Rate.Calls]; d < strict.Span() {
			t.Errorf("grants %d and %d are %s apart: %d calls in less than one span (%s); grants %v",
				i-strict.Rate.Calls, i, d, strict.Rate.Calls+1, strict.Span(), at)
		}
	}
	if len(switches) != 1 || switches[0] != [2]string{old.Addr, next.Addr} {
		t.Errorf("switches %v, want one from %s to %s", switches, old.Addr, next.Addr)
	}
}

// New connections to the same server (pool growth, a reconnect) are no
// change; the first connection only sets the baseline.
func TestServerWatch_SameServerIsNoChange(t *testing.T) {
	t.Parallel()
	lim := NewLimiter(nil)
	w := &serverWatch{l: lim}
	for _, addr := range []string{"10.0.0.1:6379", "10.0.0.1:6379", "10.0.0.1:6379"} {
		w.reached(addr)
	}
	if p := lim.switchPause(strict); p != 0 {
		t.Fatalf("pause %s after connections to one server, want 0", p)
	}
	w.reached("10.0.0.2:6379")
	if p := lim.switchPause(strict); p <= 0 || p > strict.Span() {
		t.Fatalf("pause %s after a change of server, want up to one span (%s)", p, strict.Span())
	}
}
