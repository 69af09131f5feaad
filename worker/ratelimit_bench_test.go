package worker

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// The limiter's scripts on a private redis-server. Each benchmark also
// reports the server's time per operation (redis-µs/op, from INFO
// commandstats: the scripts and the commands they run), the part of the cost
// that every notifyd process shares.

// BenchmarkLimiter_BookClaim books a slot under a backlog, 25 per 5 s, and
// claims it when its time comes: the path of every call once a backlog
// builds (two script calls). The clock is simulated, so no time is slept.
func BenchmarkLimiter_BookClaim(b *testing.B) {
	lim, rdb, clock := benchLimiter(b)
	ctx := context.Background()
	p := DefaultPolicy
	var i uint64
	redisTime := serverTime(b, rdb)
	for b.Loop() {
		i++
		id := "b" + strconv.FormatUint(i, 36)
		status, wait, _, err := lim.book(ctx, "bench", tasks.LaneBulk, id, p)
		if err != nil || (status != 0 && status != 1) {
			b.Fatalf("book: status %d, %v", status, err)
		}
		clock.Advance(wait)
		if status == 1 {
			if status, _, _, err := lim.claim(ctx, "bench", tasks.LaneBulk, id, p); err != nil || status != 0 {
				b.Fatalf("claim: status %d, %v", status, err)
			}
		}
	}
	redisTime(b)
}

// BenchmarkLimiter_BookGranted books with the limit far above the load, so
// every booking is granted at once (one script call): the idle path, with
// the window holding one entry per call in the last second.
func BenchmarkLimiter_BookGranted(b *testing.B) {
	lim, rdb, clock := benchLimiter(b)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 1_000_000, Window: time.Second}, Margin: 100 * time.Millisecond}
	var i uint64
	redisTime := serverTime(b, rdb)
	for b.Loop() {
		i++
		clock.Advance(100 * time.Microsecond) // 10,000 calls a second
		status, _, _, err := lim.book(ctx, "bench", tasks.LaneBulk, "g"+strconv.FormatUint(i, 36), p)
		if err != nil || status != 0 {
			b.Fatalf("book: status %d, %v", status, err)
		}
	}
	redisTime(b)
}

// BenchmarkLimiter_TransactionalOvertake books a transactional slot while
// 25 bulk bookings wait: it takes the earliest and moves it.
func BenchmarkLimiter_TransactionalOvertake(b *testing.B) {
	lim, rdb, clock := benchLimiter(b)
	ctx := context.Background()
	p := DefaultPolicy
	var i uint64
	for range 50 {
		i++
		if _, _, _, err := lim.book(ctx, "bench", tasks.LaneBulk, "q"+strconv.FormatUint(i, 36), p); err != nil {
			b.Fatal(err)
		}
	}
	redisTime := serverTime(b, rdb)
	for b.Loop() {
		i++
		b.StopTimer()
		// Keep the window full of future bulk bookings.
		clock.Advance(p.Rate.Window / time.Duration(p.Rate.Calls))
		if _, _, _, err := lim.book(ctx, "bench", tasks.LaneBulk, "q"+strconv.FormatUint(i, 36), p); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, _, _, err := lim.book(ctx, "bench", tasks.LaneTransactional, "t"+strconv.FormatUint(i, 36), p); err != nil {
			b.Fatal(err)
		}
	}
	redisTime(b)
}

// BenchmarkLimiter_WaitParallel runs Wait from many goroutines on Redis's
// own clock with the limit lifted: the script's throughput on one Redis.
func BenchmarkLimiter_WaitParallel(b *testing.B) {
	r := testutil.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 64})
	b.Cleanup(func() { _ = rdb.Close() })
	lim := NewLimiter(rdb)
	ctx := context.Background()
	p := Policy{Rate: Rate{Calls: 10_000_000, Window: time.Second}, Margin: 100 * time.Millisecond}
	redisTime := serverTime(b, rdb)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Wait(ctx, nil, "bench", tasks.LaneBulk, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	redisTime(b)
}

// benchLimiter returns a limiter on a private Redis with a simulated clock
// whose sleeps advance it.
func benchLimiter(b *testing.B) (*Limiter, *redis.Client, *simClock) {
	b.Helper()
	r := testutil.StartRedis(b)
	rdb := r.Client()
	clock := &simClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	lim := NewLimiter(rdb)
	lim.now = clock.Now
	lim.sleep = func(context.Context, <-chan struct{}, time.Duration) error { return nil }
	return lim, rdb, clock
}

// serverTime reads the server's counters now; the returned function
// reports, per operation since: the time Redis spent in the scripts
// (redis-µs/op) and the commands it ran, those inside the scripts included
// (redis-cmds/op), as notifybench's scenario 2 counts them.
func serverTime(b *testing.B, rdb *redis.Client) func(*testing.B) {
	b.Helper()
	usec0, calls0 := commandStats(b, rdb)
	return func(b *testing.B) {
		b.Helper()
		if b.N > 0 {
			usec, calls := commandStats(b, rdb)
			b.ReportMetric(float64(usec-usec0)/float64(b.N), "redis-µs/op")
			b.ReportMetric(float64(calls-calls0)/float64(b.N), "redis-cmds/op")
		}
	}
}

// commandStats reads INFO commandstats: the usec of the script commands (a
// script's time includes the commands it runs) and the calls of every
// command but INFO.
func commandStats(b *testing.B, rdb *redis.Client) (usec, calls int64) {
	b.Helper()
	s, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		script := name == "cmdstat_evalsha" || name == "cmdstat_eval"
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch {
			case k == "calls":
				calls += n
			case k == "usec" && script:
				usec += n
			}
		}
	}
	return usec, calls
}
