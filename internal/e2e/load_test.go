package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// TestLoad_Campaign enqueues a campaign with notifyctl and drains it with 3
// notifyd processes at a raised limit (100000 per second; the sandbox has
// none), sampling each notifyd's resident memory and Redis's memory. notifyd
// must not grow with the campaign (its RSS plateaus), and Redis must keep
// only what the retention asks for: the delivered tasks and their refs, all
// with an expiry. Quick: 10 000 notifications (5 000 with -short). Long
// (LSQD_LONG=1): 1 000 000.
//
// It does not run in parallel with the other tests, so that its figures are
// its own.
func TestLoad_Campaign(t *testing.T) {
	n, conc := 10_000, 32
	if longRun() {
		n = 1_000_000
	}
	if testing.Short() {
		n = 5_000
	}
	s := startStack(t, stackConfig{Workers: 3, Concurrency: conc,
		SandboxArgs: []string{"--limit", "-1", "--max-calls", "1000"},
		Env:         []string{"LSQ_RATE_LIMIT=100000/1s"}})
	rdb := s.redis.Client()

	file := filepath.Join(t.TempDir(), "campaign.jsonl")
	writeCampaign(t, file, "load", n)
	memBefore := usedMemory(t, rdb)

	// Sample every notifyd's RSS, Redis's memory and the progress.
	type sample struct {
		at        time.Duration
		done      int
		rss       []int64
		redisUsed int64
	}
	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			sm := sample{at: time.Since(start), redisUsed: usedMemory(t, rdb)}
			if info, err := s.insp.GetQueueInfo(string(tasks.LaneBulk)); err == nil {
				sm.done = info.Completed
			}
			for _, w := range s.workers {
				sm.rss = append(sm.rss, rss(w.cmd.Process.Pid))
			}
			mu.Lock()
			samples = append(samples, sm)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})

	code, out := runCtlFor(t, s.redis.URL, 30*time.Minute, "campaign", file, "--name", "load")
	enqueued := time.Since(start)
	if code != 0 {
		t.Fatalf("notifyctl campaign: exit %d\n%s", code, out)
	}
	memEnqueued := usedMemory(t, rdb)
	drainTimeout := 5 * time.Minute
	if longRun() {
		drainTimeout = time.Hour
	}
	testutil.Eventually(t, drainTimeout, func() bool {
		info, err := s.insp.GetQueueInfo(string(tasks.LaneBulk))
		return err == nil && info.Completed == n
	}, "%d completed", n)
	drained := time.Since(start)
	close(stop)
	wg.Wait()
	// The last refs' expiry is set just after their task completes.
	testutil.Eventually(t, 30*time.Second, func() bool { return allRefsExpire(t, rdb) }, "refs without an expiry")
	memAfter := usedMemory(t, rdb)

	st := s.stats(t)
	if st.Accepted != n || len(st.PerRef) != n || len(st.DuplicateRefs) > 0 {
		t.Errorf("sandbox: %d accepted, %d refs, %d duplicates; want %d, %d, 0", st.Accepted, len(st.PerRef), len(st.DuplicateRefs), n, n)
	}
	if dead := s.deadRefs(t); len(dead) > 0 {
		t.Errorf("dead letters: %v", dead[:min(len(dead), 10)])
	}

	// notifyd's memory: the peak, and whether the second half of the drain
	// needed more than the first.
	var drain []sample
	for _, sm := range samples {
		if sm.done > 0 && sm.done < n {
			drain = append(drain, sm)
		}
	}
	if len(drain) < 8 {
		t.Fatalf("only %d samples during the drain", len(drain))
	}
	half := len(drain) / 2
	var peaks, firsts, seconds []string
	for i, w := range s.workers {
		first, second := int64(0), int64(0)
		for j, sm := range drain {
			if j < half {
				first = max(first, sm.rss[i])
			} else {
				second = max(second, sm.rss[i])
			}
		}
		hwm := vmHWM(w.cmd.Process.Pid)
		peaks = append(peaks, mib(hwm))
		firsts = append(firsts, mib(first))
		seconds = append(seconds, mib(second))
		if second > first*13/10+16<<20 {
			t.Errorf("notifyd %d grows with the campaign: RSS peak %s in the first half of the drain, %s in the second", i, mib(first), mib(second))
		}
	}
	var curve []string
	for q := 1; q <= 4; q++ {
		sm := drain[min(len(drain)-1, q*len(drain)/4-1)]
		curve = append(curve, fmt.Sprintf("%d%%: %v", 100*sm.done/n, mibs(sm.rss)))
	}

	// Redis: what a delivered notification costs, and that all of it expires.
	perTask := float64(memAfter-memBefore) / float64(n)
	checkExpiries(t, rdb)
	t.Logf("%d notifications: enqueued by notifyctl in %.1fs (%.0f/s), drained in %.1fs (%.0f/s) by 3 notifyd × %d workers; calls %d, duplicates %d",
		n, enqueued.Seconds(), float64(n)/enqueued.Seconds(), drained.Seconds(), float64(n)/drained.Seconds(), conc, st.Total, len(st.DuplicateRefs))
	t.Logf("notifyd RSS: peak (VmHWM) %v; max in the first half of the drain %v, in the second %v; along the drain %s",
		peaks, firsts, seconds, strings.Join(curve, "; "))
	t.Logf("Redis used_memory: %s before, %s enqueued, %s drained: %.0f bytes per delivered notification kept for the 24 h retention",
		mib(memBefore), mib(memEnqueued), mib(memAfter), perTask)
	if perTask > 4096 {
		t.Errorf("%.0f bytes of Redis per delivered notification", perTask)
	}
}

// allRefsExpire reports whether every ref in Redis has an expiry.
func allRefsExpire(t *testing.T, rdb *redis.Client) bool {
	t.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, keys.Ref(tasks.DefaultAccount, "*"), 1000).Iterator()
	var batch []string
	flush := func() bool {
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.TTL(ctx, k)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("TTL of refs: %v", err)
		}
		batch = batch[:0]
		for _, c := range cmds {
			if c.(*redis.DurationCmd).Val() == -1 {
				return false
			}
		}
		return true
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 && !flush() {
			return false
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN refs: %v", err)
	}
	return flush()
}

// checkExpiries checks that what a delivered notification leaves in Redis
// expires: its ref (24 h), its completed task (asynq's retention, 24 h), and
// the limiter's keys.
func checkExpiries(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	refs, _, err := rdb.Scan(ctx, 0, keys.Ref(tasks.DefaultAccount, "*"), 2000).Result()
	if err != nil || len(refs) == 0 {
		t.Fatalf("SCAN refs: %d, %v", len(refs), err)
	}
	for _, k := range refs {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= tasks.DefaultRetention-time.Hour || ttl > tasks.DefaultRetention {
			t.Errorf("ref %s: TTL %s, want about %s", k, ttl, tasks.DefaultRetention)
			break
		}
	}
	oldest := rdb.ZRangeWithScores(ctx, "asynq:{bulk}:completed", 0, 0).Val()
	if len(oldest) != 1 {
		t.Fatalf("no completed task")
	}
	if exp := time.Unix(int64(oldest[0].Score), 0); time.Until(exp) < tasks.DefaultRetention-time.Hour {
		t.Errorf("completed tasks expire at %s, want in about %s", exp, tasks.DefaultRetention)
	}
	for _, k := range []string{keys.Slots(tasks.DefaultAccount), keys.Pending(tasks.DefaultAccount)} {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl == -1 {
			t.Errorf("limiter key %s has no expiry", k)
		}
	}
	t.Logf("expiries: %d refs sampled, TTL ≤ 24 h; oldest completed task expires in %s; limiter keys expire",
		len(refs), time.Until(time.Unix(int64(oldest[0].Score), 0)).Round(time.Minute))
}

// writeCampaign writes n campaign lines (see campaignChunk) to file.
func writeCampaign(t *testing.T, file, prefix string, n int) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i += 10_000 {
		lines, _ := campaignChunk(prefix, i, min(10_000, n-i))
		if _, err := w.Write(lines); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// runCtlFor runs notifyctl against redisURL, bounded by timeout.
func runCtlFor(t *testing.T, redisURL string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Binary(t, "notifyctl"), args...)
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run notifyctl: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// rss and vmHWM read a process's resident memory, now and at its peak, in bytes.
func rss(pid int) int64   { return procStatus(pid, "VmRSS:") }
func vmHWM(pid int) int64 { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func mibs(bs []int64) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = mib(b)
	}
	return out
}
