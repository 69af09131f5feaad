package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

const (
	accessKey = "test-access-key-0001"
	secretKey = "test-secret-key-0001"
	userID    = "2f5508b5-f7ed-11ea-b39f-122cab85b441"
)

type serverBundle struct {
	redis   *testutil.Redis
	rdb     *redis.Client
	sandbox *sandbox.Server
	url     string
	client  *asynq.Client
	insp    *asynq.Inspector
}

func setupServer(t *testing.T, sb sandbox.Config) *serverBundle {
	t.Helper()
	r := testutil.StartRedis(t)
	sb.AccessKey, sb.SecretKey = accessKey, secretKey
	s, err := sandbox.New(sb)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Cleanup(s.Close) // runs first: releases held calls so hs.Close cannot hang
	b := &serverBundle{redis: r, rdb: r.Client(), sandbox: s, url: hs.URL,
		client: asynq.NewClient(asynq.RedisClientOpt{Addr: r.Addr}),
		insp:   asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr})}
	t.Cleanup(func() { b.client.Close(); b.insp.Close() })
	return b
}

func (b *serverBundle) sender(t *testing.T, secret string) *leadsquared.Client {
	t.Helper()
	c, err := leadsquared.NewClient(leadsquared.Config{BaseURL: b.url, AccessKey: accessKey, SecretKey: secret, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs a worker server with fast retries for tests.
func (b *serverBundle) start(t *testing.T, sender worker.Sender, p worker.Policy, tweak ...func(*worker.Config)) *worker.Server {
	t.Helper()
	cfg := worker.Config{
		Queue: asynq.RedisClientOpt{Addr: b.redis.Addr}, Redis: b.rdb,
		Accounts:    []worker.Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: p}},
		Concurrency: 4, ShutdownTimeout: 3 * time.Second, ProbeInterval: 200 * time.Millisecond,
		TaskCheckInterval: 50 * time.Millisecond, ForwardInterval: 100 * time.Millisecond,
		Backoff: worker.Backoff{Initial: 100 * time.Millisecond, Max: 200 * time.Millisecond},
		Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func (b *serverBundle) enqueueSystem(t *testing.T, ref string, lane tasks.Lane, mutate ...func(*leadsquared.SystemNotification)) {
	t.Helper()
	body := leadsquared.SystemNotification{Type: "Lead", ToUser: userID,
		CardContents:   leadsquared.CardContents{Message: "New lead " + ref},
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: ref}}
	for _, m := range mutate {
		m(&body)
	}
	task, err := tasks.NewSystemTask(tasks.SystemPayload{
		Meta: tasks.Meta{Ref: ref, Account: tasks.DefaultAccount, Lane: lane, EnqueuedAt: time.Now()}, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
}

func (b *serverBundle) taskInfo(t *testing.T, lane tasks.Lane, ref string) *asynq.TaskInfo {
	t.Helper()
	info, err := b.insp.GetTaskInfo(string(lane), tasks.TaskID(tasks.DefaultAccount, ref))
	if err != nil {
		t.Fatalf("task %s: %v", ref, err)
	}
	return info
}

func (b *serverBundle) waitState(t *testing.T, lane tasks.Lane, ref string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	testutil.Eventually(t, 15*time.Second, func() bool {
		info, _ = b.insp.GetTaskInfo(string(lane), tasks.TaskID(tasks.DefaultAccount, ref))
		return info != nil && info.State == state
	}, "task %s never reached %s (last: %+v)", ref, state, info)
	return info
}

var fast = worker.Policy{Rate: worker.Rate{Calls: 50, Window: time.Second}, Margin: 10 * time.Millisecond}

func TestServer_DeliversRetriesAndArchives(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1, Faults: sandbox.Faults{Scripts: []sandbox.Script{
		{Ref: "flaky", FirstN: 2, Status: 500}, {Ref: "refused", FirstN: 1, Status: 400}}}})
	for _, ref := range []string{"ok", "flaky", "refused"} {
		b.enqueueSystem(t, ref, tasks.LaneTransactional)
	}
	if err := b.rdb.Set(context.Background(), keys.Ref(tasks.DefaultAccount, "ok"), "transactional", 0).Err(); err != nil {
		t.Fatal(err)
	}
	b.start(t, b.sender(t, secretKey), fast)

	ok := b.waitState(t, tasks.LaneTransactional, "ok", asynq.TaskStateCompleted)
	if len(ok.Result) == 0 {
		t.Fatal("no result written for a delivered task")
	}
	if ttl := b.rdb.TTL(context.Background(), keys.Ref(tasks.DefaultAccount, "ok")).Val(); ttl <= 0 || ttl > tasks.DefaultRetention {
		t.Fatalf("ref TTL after delivery = %s, want the retention", ttl)
	}
	flaky := b.waitState(t, tasks.LaneTransactional, "flaky", asynq.TaskStateCompleted)
	if flaky.Retried != 2 {
		t.Errorf("flaky retried %d times, want 2", flaky.Retried)
	}
	refused := b.waitState(t, tasks.LaneTransactional, "refused", asynq.TaskStateArchived)
	if refused.LastErr == "" {
		t.Error("archived task has no reason")
	}
	st := b.sandbox.Stats()
	if st.PerRef["refused"] != 0 || countCalls(b.sandbox, "refused") != 1 {
		t.Errorf("the 400 ref was called %d times, want exactly 1", countCalls(b.sandbox, "refused"))
	}
	if st.PerRef["ok"] != 1 || st.PerRef["flaky"] != 1 {
		t.Errorf("deliveries per ref: %v", st.PerRef)
	}
}

func countCalls(s *sandbox.Server, ref string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Ref == ref {
			n++
		}
	}
	return n
}

func TestServer_RateLimitCoolsDownWithoutFailing(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1, Faults: sandbox.Faults{Burst429: 1, RetryAfter: time.Second}})
	b.enqueueSystem(t, "limited", tasks.LaneTransactional)
	b.start(t, b.sender(t, secretKey), fast)
	info := b.waitState(t, tasks.LaneTransactional, "limited", asynq.TaskStateCompleted)
	if info.Retried != 0 {
		t.Errorf("a rate-limited attempt counted as a failure: retried %d", info.Retried)
	}
	calls := b.sandbox.Calls()
	if len(calls) != 2 || calls[1].Time.Sub(calls[0].Time) < 900*time.Millisecond {
		t.Fatalf("want the retry after the 1s cool-down; calls: %+v", calls)
	}
}

// switchSender answers with the broken client until fixed is set: the
// operator fixing keys at LeadSquared.
type switchSender struct {
	broken, good *leadsquared.Client
	fixed        atomic.Bool
}

func (s *switchSender) pick() *leadsquared.Client {
	if s.fixed.Load() {
		return s.good
	}
	return s.broken
}
func (s *switchSender) SendSystem(ctx context.Context, n leadsquared.SystemNotification) (string, error) {
	return s.pick().SendSystem(ctx, n)
}
func (s *switchSender) SendPush(ctx context.Context, n leadsquared.PushNotification) (string, error) {
	return s.pick().SendPush(ctx, n)
}
func (s *switchSender) CheckKeys(ctx context.Context) (*leadsquared.User, error) {
	return s.pick().CheckKeys(ctx)
}

func TestServer_CredentialsFaultHaltsThenResumes(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	sw := &switchSender{broken: b.sender(t, "wrong-secret-key-0001"), good: b.sender(t, secretKey)}
	for _, ref := range []string{"a", "b", "c"} {
		b.enqueueSystem(t, ref, tasks.LaneTransactional)
	}
	srv := b.start(t, sw, fast)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(srv.Halted()) == 1 }, "account never halted")
	if err := srv.Ready(context.Background()); err == nil {
		t.Fatal("ready while halted")
	}
	for _, ref := range []string{"a", "b", "c"} {
		info := b.taskInfo(t, tasks.LaneTransactional, ref)
		if info.State == asynq.TaskStateArchived || info.Retried != 0 {
			t.Fatalf("task %s burnt retries or was archived while halted: %+v", ref, info)
		}
	}
	sw.fixed.Store(true)
	for _, ref := range []string{"a", "b", "c"} {
		b.waitState(t, tasks.LaneTransactional, ref, asynq.TaskStateCompleted)
	}
	if err := srv.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after the keys were fixed: %v", err)
	}
}

func TestServer_ShutdownHandsBackWaitingTasks(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	// One call per 3 s: the second task waits for its slot, within the wait
	// limit (about one window), when the shutdown comes.
	slow := worker.Policy{Rate: worker.Rate{Calls: 1, Window: 3 * time.Second}}
	b.enqueueSystem(t, "first", tasks.LaneTransactional)
	srv := b.start(t, b.sender(t, secretKey), slow)
	b.waitState(t, tasks.LaneTransactional, "first", asynq.TaskStateCompleted)
	b.enqueueSystem(t, "second", tasks.LaneTransactional)
	b.waitState(t, tasks.LaneTransactional, "second", asynq.TaskStateActive)

	done := make(chan struct{})
	go func() { srv.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not finish within the timeout")
	}
	info := b.taskInfo(t, tasks.LaneTransactional, "second")
	if info.State == asynq.TaskStateActive || info.State == asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("waiting task after shutdown: state %s retried %d; want back in the queue, no failure", info.State, info.Retried)
	}
	if n := countCalls(b.sandbox, "second"); n != 0 {
		t.Fatalf("the handed-back task called LeadSquared %d times", n)
	}
}

func TestServer_PoisonPayloadIsArchived(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	_, err := b.client.Enqueue(asynq.NewTask(tasks.TypeSystem, []byte(`{"ref":`)),
		asynq.Queue(string(tasks.LaneTransactional)), asynq.TaskID("poison"))
	if err != nil {
		t.Fatal(err)
	}
	b.start(t, b.sender(t, secretKey), fast)
	testutil.Eventually(t, 10*time.Second, func() bool {
		info, err := b.insp.GetTaskInfo(string(tasks.LaneTransactional), "poison")
		return err == nil && info.State == asynq.TaskStateArchived
	}, "poison task not archived")
	if got := b.sandbox.Stats().Total; got != 0 {
		t.Fatalf("a poison task called LeadSquared %d times", got)
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	if !worker.IsFailure(errors.New("boom")) {
		t.Fatal("a plain error is a failure")
	}
}

// A shutdown timeout at or within the call timeout (plus the result's
// write) lets asynq hand back a task whose call is still in flight, which is
// sent again: New refuses it and names the fix.
func TestNew_ShutdownTimeoutMustOutlastACall(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	sender := b.sender(t, secretKey) // 2 s call timeout
	for _, tc := range []struct {
		shutdown time.Duration
		ok       bool
	}{{2 * time.Second, false}, {2*time.Second + worker.ResultWriteAllowance, false}, {3 * time.Second, true}} {
		_, err := worker.New(worker.Config{
			Queue: asynq.RedisClientOpt{Addr: b.redis.Addr}, Redis: b.rdb, ShutdownTimeout: tc.shutdown,
			Accounts: []worker.Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: fast}},
		})
		switch {
		case tc.ok && err != nil:
			t.Errorf("shutdown timeout %s: %v", tc.shutdown, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "set NOTIFYD_SHUTDOWN_TIMEOUT to 3s or more")):
			t.Errorf("shutdown timeout %s with a 2s call timeout: error %v, want a refusal naming the fix", tc.shutdown, err)
		}
	}
	// The default outlasts any call timeout.
	slow, err := leadsquared.NewClient(leadsquared.Config{BaseURL: b.url, AccessKey: accessKey, SecretKey: secretKey, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.New(worker.Config{Queue: asynq.RedisClientOpt{Addr: b.redis.Addr}, Redis: b.rdb,
		Accounts: []worker.Account{{Name: tasks.DefaultAccount, Sender: slow, Policy: fast}}}); err != nil {
		t.Errorf("default shutdown timeout with a 1m call timeout: %v", err)
	}
}

// A clean stop while answers are slow (near the client's timeout) lets
// every call in flight finish and records it: nothing is handed back to
// asynq mid-call, so nothing is sent twice.
func TestServer_CleanStopWithSlowAnswersSendsNothingTwice(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1, Latency: 1800 * time.Millisecond})
	refs := []string{"slow-0", "slow-1", "slow-2", "slow-3", "slow-4", "slow-5"}
	for _, ref := range refs {
		b.enqueueSystem(t, ref, tasks.LaneBulk)
	}
	// The sandbox records a call once answered: count arrivals in front of it.
	var arrived atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		b.sandbox.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	sender, err := leadsquared.NewClient(leadsquared.Config{BaseURL: hs.URL, AccessKey: accessKey, SecretKey: secretKey, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := b.start(t, sender, fast) // 2 s calls, 3 s shutdown timeout, 4 workers
	testutil.Eventually(t, 10*time.Second, func() bool { return arrived.Load() == 4 }, "4 calls never in flight")
	srv.Shutdown()

	completed := 0
	for _, ref := range refs {
		info := b.taskInfo(t, tasks.LaneBulk, ref)
		switch info.State {
		case asynq.TaskStateCompleted:
			completed++
		case asynq.TaskStatePending, asynq.TaskStateRetry: // handed back before its call
			if n := countCalls(b.sandbox, ref); n != 0 {
				t.Errorf("%s was handed back after %d calls: it will be sent again", ref, n)
			}
		default:
			t.Errorf("%s after a clean stop: %s (retried %d)", ref, info.State, info.Retried)
		}
	}
	if completed != 4 {
		t.Errorf("%d of the 4 calls in flight were recorded as delivered at the stop", completed)
	}
	// A new server delivers the rest; no ref reaches LeadSquared twice.
	b.start(t, b.sender(t, secretKey), fast)
	for _, ref := range refs {
		b.waitState(t, tasks.LaneBulk, ref, asynq.TaskStateCompleted)
	}
	if dup := b.sandbox.Stats().DuplicateRefs; len(dup) > 0 {
		t.Errorf("sent twice: %v", dup)
	}
}

// A 2xx whose body is not LeadSquared's JSON may have been delivered: the
// task is recorded as delivered, unconfirmed, with the answer; it is not
// sent again and the account is not halted. With ResendUnconfirmed it is
// retried instead.
func TestServer_NonJSONSuccessIsDeliveredUnconfirmed(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1, Faults: sandbox.Faults{NonJSONRate: 1}})
	metrics := worker.NewMetrics(nil)
	b.enqueueSystem(t, "garbled", tasks.LaneTransactional)
	srv := b.start(t, b.sender(t, secretKey), fast, func(c *worker.Config) { c.Metrics = metrics })
	info := b.waitState(t, tasks.LaneTransactional, "garbled", asynq.TaskStateCompleted)
	var res tasks.Result
	if err := json.Unmarshal(info.Result, &res); err != nil || !strings.Contains(res.Unconfirmed, "not LeadSquared's") {
		t.Fatalf("result %s (%v): want it marked unconfirmed, with the answer", info.Result, err)
	}
	if info.Retried != 0 || countCalls(b.sandbox, "garbled") != 1 {
		t.Errorf("retried %d, %d calls: want one call, no retry", info.Retried, countCalls(b.sandbox, "garbled"))
	}
	if h := srv.Halted(); len(h) != 0 {
		t.Errorf("halted %v for a body a proxy rewrote", h)
	}
	got := counterValue(t, metrics.Deliveries.WithLabelValues("system", "transactional", tasks.DefaultAccount, string(worker.OutcomeDeliveredUnconfirmed)))
	if got != 1 {
		t.Errorf("lsqd_deliveries_total{outcome=delivered_unconfirmed} = %v, want 1", got)
	}

	// Opted in: sent again (the sandbox now answers properly).
	b2 := setupServer(t, sandbox.Config{Limit: -1, Faults: sandbox.Faults{NonJSONRate: 1}})
	b2.enqueueSystem(t, "resent", tasks.LaneTransactional)
	b2.start(t, b2.sender(t, secretKey), fast, func(c *worker.Config) { c.ResendUnconfirmed = true })
	testutil.Eventually(t, 10*time.Second, func() bool { return countCalls(b2.sandbox, "resent") >= 1 }, "no call")
	if err := b2.sandbox.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	info = b2.waitState(t, tasks.LaneTransactional, "resent", asynq.TaskStateCompleted)
	if info.Retried == 0 || countCalls(b2.sandbox, "resent") < 2 {
		t.Errorf("with ResendUnconfirmed: retried %d, %d calls; want it sent again", info.Retried, countCalls(b2.sandbox, "resent"))
	}
}

// counterValue reads a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (s *switchSender) ProbePath(ctx context.Context, op string) error {
	return s.pick().ProbePath(ctx, op)
}

// Timeout is the clients' call timeout, which the shutdown timeout must outlast.
func (s *switchSender) Timeout() time.Duration { return s.pick().Timeout() }

// noProbe hides a Sender's ProbePath: a Sender that cannot test a path.
type noProbe struct{ s *switchSender }

func (n noProbe) SendSystem(ctx context.Context, m leadsquared.SystemNotification) (string, error) {
	return n.s.SendSystem(ctx, m)
}
func (n noProbe) SendPush(ctx context.Context, m leadsquared.PushNotification) (string, error) {
	return n.s.SendPush(ctx, m)
}
func (n noProbe) CheckKeys(ctx context.Context) (*leadsquared.User, error) {
	return n.s.CheckKeys(ctx)
}
func (n noProbe) Timeout() time.Duration { return n.s.Timeout() }

// syncBuffer is a log buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func (b *serverBundle) enqueuePush(t *testing.T, ref string, lane tasks.Lane) {
	t.Helper()
	task, err := tasks.NewPushTask(tasks.PushPayload{
		Meta: tasks.Meta{Ref: ref, Account: tasks.DefaultAccount, Lane: lane, EnqueuedAt: time.Now()},
		Body: leadsquared.PushNotification{UserId: userID, Title: "Hot lead " + ref, Content: "Call now"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
}

// A wrong system notification path (LeadSquared answers 404) halts system
// notifications only: pushes keep flowing, held system tasks spend no
// retry and take no slot, the reason is logged once however often the
// probe finds the path still wrong, readiness and lsqd_operation_halted
// name the kind, and the probe (which delivers nothing) resumes dispatch
// once the path is right.
func TestServer_WrongSystemPathHaltsOnlySystem(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	wrong, err := leadsquared.NewClient(leadsquared.Config{BaseURL: b.url, AccessKey: accessKey, SecretKey: secretKey,
		Timeout: 2 * time.Second, SystemNotificationPath: "/v2/Converse.svc/Placeholder"})
	if err != nil {
		t.Fatal(err)
	}
	sw := &switchSender{broken: wrong, good: b.sender(t, secretKey)}
	var sys, push []string
	for i := range 5 {
		ref := "sys-" + strconv.Itoa(i)
		sys = append(sys, ref)
		b.enqueueSystem(t, ref, tasks.LaneBulk)
	}
	for i := range 30 {
		ref := "push-" + strconv.Itoa(i)
		push = append(push, ref)
		b.enqueuePush(t, ref, tasks.LaneBulk)
	}
	logs := &syncBuffer{}
	metrics := worker.NewMetrics(nil)
	srv := b.start(t, sw, fast, func(c *worker.Config) {
		c.Metrics = metrics
		c.Logger = zerolog.New(io.MultiWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.InfoLevel)
	})
	for _, ref := range push {
		b.waitState(t, tasks.LaneBulk, ref, asynq.TaskStateCompleted)
	}
	probes := func() int {
		n := 0
		for _, c := range b.sandbox.Calls() {
			if c.Path == "/v2/Converse.svc/Placeholder" && c.Ref == "" {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return probes() >= 3 }, "the wrong path was never probed 3 times")

	if h := srv.Halted(); len(h) != 0 {
		t.Errorf("the account halted for a wrong path: %v", h)
	}
	if k := srv.HaltedKinds()[tasks.DefaultAccount]; len(k) != 1 || k["system"] == "" {
		t.Errorf("halted kinds %v, want system only", srv.HaltedKinds())
	}
	if err := srv.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "system notifications of default") {
		t.Errorf("Ready: %v, want it to name the system notifications", err)
	}
	if v := gaugeValue(t, metrics.OperationHalted.WithLabelValues(tasks.DefaultAccount, "system")); v != 1 {
		t.Errorf("lsqd_operation_halted{kind=system} = %v, want 1", v)
	}
	if v := gaugeValue(t, metrics.OperationHalted.WithLabelValues(tasks.DefaultAccount, "push")); v != 0 {
		t.Errorf("lsqd_operation_halted{kind=push} = %v, want 0", v)
	}
	if v := gaugeValue(t, metrics.Halted.WithLabelValues(tasks.DefaultAccount)); v != 0 {
		t.Errorf("lsqd_account_halted = %v, want 0", v)
	}
	if n := logs.count("dispatch of system notifications halted"); n != 1 {
		t.Errorf("the halt was logged %d times, want once", n)
	}
	realCalls := 0
	for _, ref := range sys {
		realCalls += countCalls(b.sandbox, ref)
		info := b.taskInfo(t, tasks.LaneBulk, ref)
		if info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted || info.Retried != 0 {
			t.Errorf("held system task %s: %s, retried %d; want waiting, no retry spent", ref, info.State, info.Retried)
		}
	}
	if realCalls > 4 { // at most one per worker before the halt is known
		t.Errorf("%d system notifications reached the wrong path, want at most the 4 workers' first", realCalls)
	}

	sw.fixed.Store(true) // the path is fixed (a restart with the right LSQ_SYSTEM_NOTIFICATION_PATH)
	for _, ref := range sys {
		b.waitState(t, tasks.LaneBulk, ref, asynq.TaskStateCompleted)
	}
	if len(srv.HaltedKinds()) != 0 || srv.Ready(context.Background()) != nil {
		t.Errorf("after the fix: halted kinds %v, ready %v", srv.HaltedKinds(), srv.Ready(context.Background()))
	}
	if st := b.sandbox.Stats(); len(st.DuplicateRefs) > 0 || st.Accepted != len(sys)+len(push) {
		t.Errorf("after the fix: %d accepted, duplicates %v; want each of %d once", st.Accepted, st.DuplicateRefs, len(sys)+len(push))
	}
}

// A Sender that cannot probe a path halts the kind for a long back-off;
// an operator's resume (the halt key deleted, as notifyctl resume does)
// lets it go on at the next check.
func TestServer_KindHaltWithoutProbeResumesByOperator(t *testing.T) {
	t.Parallel()
	b := setupServer(t, sandbox.Config{Limit: -1})
	sw := &switchSender{good: b.sender(t, secretKey)}
	var err error
	sw.broken, err = leadsquared.NewClient(leadsquared.Config{BaseURL: b.url, AccessKey: accessKey, SecretKey: secretKey,
		Timeout: 2 * time.Second, SystemNotificationPath: "/v2/Converse.svc/Placeholder"})
	if err != nil {
		t.Fatal(err)
	}
	b.enqueueSystem(t, "held", tasks.LaneTransactional)
	srv := b.start(t, noProbe{sw}, fast)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(srv.HaltedKinds()) == 1 }, "system never halted")
	ttl := b.rdb.TTL(context.Background(), keys.HaltKind(tasks.DefaultAccount, "system")).Val()
	if ttl <= 10*time.Minute {
		t.Errorf("halt TTL %s without a probe, want a long back-off", ttl)
	}
	sw.fixed.Store(true)
	if err := b.rdb.Del(context.Background(), keys.HaltKind(tasks.DefaultAccount, "system")).Err(); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, tasks.LaneTransactional, "held", asynq.TaskStateCompleted)
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
