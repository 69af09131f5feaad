package redisconn_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// The drain tests run the whole pipeline on one Redis deployment (TLS,
// Cluster, Sentinel): a campaign enqueued with the enqueue package, worker
// servers in this process, and the sandbox as LeadSquared, at a limit fast
// enough for CI (drainLimit calls per drainWindow).
const (
	drainAccess = "drain-access-key-0001"
	drainSecret = "drain-secret-key-0001"
	drainLimit  = 10
	drainWindow = time.Second
)

var drainPolicy = worker.Policy{Rate: worker.Rate{Calls: drainLimit, Window: drainWindow}, Margin: 50 * time.Millisecond}

type drainBundle struct {
	conn    redisconn.Conn
	sandbox *sandbox.Server
	sbURL   string
	client  *enqueue.Client
	control *enqueue.Inspector
}

// setupDrain parses url, connects the enqueue client through it and starts
// the sandbox at drainLimit per drainWindow, with faults.
func setupDrain(t *testing.T, url string, faults ...sandbox.Script) *drainBundle {
	t.Helper()
	conn, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{AccessKey: drainAccess, SecretKey: drainSecret, Limit: drainLimit, Window: drainWindow,
		Faults: sandbox.Faults{Scripts: faults}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); hs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := enqueue.New(ctx, url)
	if err != nil {
		t.Fatalf("enqueue.New(%s): %v", conn, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctl, err := enqueue.NewInspector(ctx, url)
	if err != nil {
		t.Fatalf("enqueue.NewInspector(%s): %v", conn, err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	return &drainBundle{conn: conn, sandbox: sb, sbURL: hs.URL, client: c, control: ctl}
}

// startWorker starts one worker server (one notifyd process's workers)
// connected through the URL, stopped at the end of the test.
func (b *drainBundle) startWorker(t *testing.T, concurrency int) *worker.Server {
	t.Helper()
	sender, err := leadsquared.NewClient(leadsquared.Config{BaseURL: b.sbURL, AccessKey: drainAccess, SecretKey: drainSecret, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rdb := b.conn.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := worker.New(worker.Config{
		Queue: b.conn.Queue, Redis: rdb,
		Accounts:    []worker.Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: drainPolicy}},
		Concurrency: concurrency, ShutdownTimeout: 3 * time.Second, ProbeInterval: 200 * time.Millisecond,
		TaskCheckInterval: 50 * time.Millisecond, ForwardInterval: 100 * time.Millisecond,
		Backoff: worker.Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond},
		Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// campaign enqueues n notifications (refs prefix-0…), a third of them push.
func (b *drainBundle) campaign(t *testing.T, prefix string, n int) {
	t.Helper()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("%s-%d", prefix, i)
		user := fmt.Sprintf("2f5508b5-f7ed-11ea-b39f-%012d", i)
		if i%3 == 0 {
			fmt.Fprintf(&sb, `{"type":"push","ref":%q,"body":{"UserId":%q,"Title":"Hot lead %d","Content":"Call now"}}`+"\n", ref, user, i)
		} else {
			fmt.Fprintf(&sb, `{"type":"system","ref":%q,"body":{"Type":"Lead","CardContents":{"Message":"New lead %d"},"ToUser":%q}}`+"\n", ref, i, user)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := b.client.Campaign(ctx, strings.NewReader(sb.String()), enqueue.CampaignOptions{Name: prefix, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("campaign: %v (report %+v)", err, rep)
	}
	if rep.Enqueued != n {
		t.Fatalf("campaign enqueued %d of %d: %+v", rep.Enqueued, n, rep)
	}
}

// waitDelivered waits until n distinct refs were delivered and returns the
// sandbox's figures.
func (b *drainBundle) waitDelivered(t *testing.T, n int, timeout time.Duration) sandbox.Stats {
	t.Helper()
	var st sandbox.Stats
	testutil.Eventually(t, timeout, func() bool {
		st = b.sandbox.Stats()
		return len(st.PerRef) >= n
	}, "delivered %d of %d", len(st.PerRef), n)
	return st
}

// checkLimit asserts that the limit held: LeadSquared never answered the
// rate limit and no window held more than the limit.
func checkLimit(t *testing.T, st sandbox.Stats) {
	t.Helper()
	if st.RateLimited != 0 {
		t.Errorf("LeadSquared answered the rate limit %d times, want 0", st.RateLimited)
	}
	if st.MaxInWindow > drainLimit {
		t.Errorf("%d calls in one %s window, limit %d", st.MaxInWindow, drainWindow, drainLimit)
	}
}
