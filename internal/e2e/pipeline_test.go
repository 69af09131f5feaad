package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// sandboxStats is the part of lsq-sandbox's /_sandbox/stats the test reads.
type sandboxStats struct {
	Total, Accepted, Counted, RateLimited, MaxInWindow int
	PerRef                                             map[string]int
	DuplicateRefs                                      []string
	FirstAccepted, LastAccepted                        time.Time
}

type sandboxCall struct {
	Time     time.Time
	Kind     string
	Ref      string
	Status   int
	Accepted bool
	Counted  bool
}

// TestPipeline_ThreeProcessesUnderOneLimit is the pipeline's acceptance test:
// 3 notifyd processes × 8 workers drain a mixed campaign with scripted 500s
// and 400s while transactional sends arrive, against lsq-sandbox at the real
// 25-per-5-s limit.
func TestPipeline_ThreeProcessesUnderOneLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("drains a campaign at 25 per 5 s: about 45 s")
	}
	const lines, access, secret = 200, "e2e-access-key-0001", "e2e-secret-key-0001"
	redis := testutil.StartRedis(t)
	sbAddr := addr(t)
	bad := map[string]bool{"c-17": true, "c-101": true, "c-188": true} // LeadSquared answers 400 once
	flaky := map[string]bool{"c-5": true, "c-66": true, "c-150": true} // first 2 calls answer 500
	args := []string{"--addr", sbAddr, "--access-key", access, "--secret-key", secret}
	for ref := range bad {
		args = append(args, "--script", ref+":1:400")
	}
	for ref := range flaky {
		args = append(args, "--script", ref+":2:500")
	}
	startProc(t, "lsq-sandbox", nil, args...)
	sbURL := "http://" + sbAddr
	waitHTTP(t, sbURL+"/_sandbox/stats")

	env := []string{"REDIS_URL=" + redis.URL, "LSQ_ACCESS_KEY=" + access, "LSQ_SECRET_KEY=" + secret,
		"LSQ_API_BASE_URL=" + sbURL, "NOTIFYD_CONCURRENCY=8", "LOG_LEVEL=warn", "NOTIFYD_SHUTDOWN_TIMEOUT=15s"}
	var workers []*proc
	for i := 0; i < 3; i++ {
		httpAddr := addr(t)
		workers = append(workers, startProc(t, "notifyd", append(env, "NOTIFYD_HTTP_ADDR="+httpAddr)))
		waitHTTP(t, "http://"+httpAddr+"/healthz")
	}

	file := filepath.Join(t.TempDir(), "campaign.jsonl")
	var sb strings.Builder
	for i := 0; i < lines; i++ {
		ref := fmt.Sprintf("c-%d", i)
		if i%3 == 0 {
			fmt.Fprintf(&sb, `{"type":"push","ref":%q,"body":{"UserId":%q,"Title":"Hot lead %d","Content":"Call now"}}`+"\n", ref, guid(i), i)
		} else {
			fmt.Fprintf(&sb, `{"type":"system","ref":%q,"body":{"Type":"Lead","CardContents":{"Message":"New lead %d"},"ToUser":%q}}`+"\n", ref, i, guid(i))
		}
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctlEnv := []string{"REDIS_URL=" + redis.URL}
	if code, out := run(t, "notifyctl", ctlEnv, nil, "campaign", file, "--name", "e2e"); code != 0 {
		t.Fatalf("notifyctl campaign: exit %d\n%s", code, out)
	}

	// Transactional sends during the drain.
	sent := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			time.Sleep(4 * time.Second)
			ref := fmt.Sprintf("tx-%d", i)
			at := time.Now()
			code, out := run(t, "notifyctl", ctlEnv, nil, "send", "system", "--to", guid(9000+i),
				"--type", "Task", "--message", "Reminder "+ref, "--ref", ref)
			if code != 0 {
				t.Errorf("notifyctl send: exit %d\n%s", code, out)
			}
			mu.Lock()
			sent[ref] = at
			mu.Unlock()
		}
	}()

	want := lines - len(bad) + 5
	var st sandboxStats
	testutil.Eventually(t, 3*time.Minute, func() bool {
		getJSON(t, sbURL+"/_sandbox/stats", &st)
		return len(st.PerRef) >= want
	}, "delivered %d of %d", len(st.PerRef), want)
	wg.Wait()

	// The limit held and was used.
	if st.RateLimited != 0 {
		t.Errorf("LeadSquared answered the rate limit %d times, want 0", st.RateLimited)
	}
	if st.MaxInWindow > 25 {
		t.Errorf("max %d calls in a 5 s window, limit 25", st.MaxInWindow)
	}
	var calls []sandboxCall
	getJSON(t, sbURL+"/_sandbox/calls", &calls)
	util := utilization(calls, 25, 5*time.Second)
	t.Logf("calls %d, delivered %d, max in window %d, 429s %d, utilization %.1f%%",
		st.Total, len(st.PerRef), st.MaxInWindow, st.RateLimited, 100*util)
	t.Logf("largest gaps between counted calls: %v", largestGaps(calls, 6))
	if util < 0.95 {
		t.Errorf("utilization %.1f%% of 25/5s once the backlog built, want >= 95%%", 100*util)
	}

	// Exactly once, retries, and dead letters.
	if len(st.DuplicateRefs) > 0 {
		t.Errorf("delivered more than once: %v", st.DuplicateRefs)
	}
	for ref := range bad {
		if n := callsFor(calls, ref); n != 1 || st.PerRef[ref] != 0 {
			t.Errorf("400 ref %s: %d calls, %d deliveries; want 1 call, 0 deliveries", ref, n, st.PerRef[ref])
		}
	}
	for ref := range flaky {
		if n := callsFor(calls, ref); n != 3 || st.PerRef[ref] != 1 {
			t.Errorf("flaky ref %s: %d calls, %d deliveries; want 3 calls (2 × 500), 1 delivery", ref, n, st.PerRef[ref])
		}
	}
	code, out := run(t, "notifyctl", ctlEnv, nil, "dlq", "list", "--json")
	if code != 0 {
		t.Fatalf("dlq list: exit %d\n%s", code, out)
	}
	var dead []map[string]any
	if err := json.Unmarshal([]byte(out), &dead); err != nil || len(dead) != len(bad) {
		t.Errorf("dlq list: %d dead letters (%v), want %d:\n%s", len(dead), err, len(bad), out)
	}

	// Transactional latency: enqueue to arrival at LeadSquared.
	var lat []time.Duration
	for ref, at := range sent {
		for _, c := range calls {
			if c.Ref == ref && c.Accepted {
				lat = append(lat, c.Time.Sub(at))
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("transactional enqueue→delivery during the drain: %v", lat)
	if len(lat) != 5 || lat[len(lat)-1] > 2*time.Second {
		t.Errorf("transactional sends: latencies %v, want 5 within 2s", lat)
	}

	for _, w := range workers {
		if code := w.terminate(t, 10*time.Second); code != 0 {
			t.Errorf("notifyd exit code after SIGTERM: %d, want 0", code)
		}
	}
}

// utilization is the share of the limit used while the backlog lasted: from
// the first notification call to the last ref's first attempt (later calls
// are retries after the queue emptied): counted calls / (limit × elapsed / window).
func utilization(calls []sandboxCall, limit int, window time.Duration) float64 {
	firstTry := map[string]time.Time{}
	var start, end time.Time
	for _, c := range calls {
		if !c.Counted || c.Kind == "keycheck" {
			continue // key checks come at start-up, before the backlog
		}
		if start.IsZero() {
			start = c.Time
		}
		if _, seen := firstTry[c.Ref]; !seen {
			firstTry[c.Ref] = c.Time
			end = c.Time
		}
	}
	n := 0
	for _, c := range calls {
		if c.Counted && c.Kind != "keycheck" && !c.Time.After(end) {
			n++
		}
	}
	if n < 2 {
		return 0
	}
	// n calls span n-1 intervals of window/limit at full use.
	return float64(n-1) / (float64(limit) * end.Sub(start).Seconds() / window.Seconds())
}

func callsFor(calls []sandboxCall, ref string) int {
	n := 0
	for _, c := range calls {
		if c.Ref == ref {
			n++
		}
	}
	return n
}

// largestGaps returns the n longest pauses between consecutive counted
// notification calls, with the ref that ended each: where budget went unused.
func largestGaps(calls []sandboxCall, n int) []string {
	type gap struct {
		d   time.Duration
		ref string
	}
	var gaps []gap
	var prev time.Time
	for _, c := range calls {
		if !c.Counted || c.Kind == "keycheck" {
			continue
		}
		if !prev.IsZero() {
			gaps = append(gaps, gap{c.Time.Sub(prev), c.Ref})
		}
		prev = c.Time
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i].d > gaps[j].d })
	var out []string
	for i := 0; i < n && i < len(gaps); i++ {
		out = append(out, fmt.Sprintf("%s before %s", gaps[i].d.Round(time.Millisecond), gaps[i].ref))
	}
	return out
}
