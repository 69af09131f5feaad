package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// handlerBundle is a Server on miniredis whose handler the test runs
// directly, with a scripted sender and the log in a buffer.
type handlerBundle struct {
	srv    *Server
	rdb    *redis.Client
	sender *scriptedSender
	log    *syncLog
}

// syncLog is a log buffer safe for the handler's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log's JSON lines, decoded.
func (l *syncLog) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// attempts returns the "attempt" lines of the log.
func (l *syncLog) attempts(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range l.lines(t) {
		if m["message"] == "attempt" {
			out = append(out, m)
		}
	}
	return out
}

// scriptedSender answers every call with err (nil: success).
type scriptedSender struct {
	mu    sync.Mutex
	err   map[string]error // by op: "system", "push"
	calls map[string]int
}

func (s *scriptedSender) answer(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[op]++
	return s.err[op]
}

func (s *scriptedSender) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *scriptedSender) SendSystem(context.Context, leadsquared.SystemNotification) (string, error) {
	return "id-1", s.answer("system")
}

func (s *scriptedSender) SendPush(context.Context, leadsquared.PushNotification) (string, error) {
	return "Message broadcasted successfully", s.answer("push")
}

func (s *scriptedSender) CheckKeys(context.Context) (*leadsquared.User, error) {
	return &leadsquared.User{Id: fuzzGUID, Name: "test"}, nil
}

func setupHandler(t *testing.T, p Policy, sender *scriptedSender) *handlerBundle {
	t.Helper()
	m := testutil.Miniredis(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	l := &syncLog{}
	srv, err := New(Config{
		Queue: asynq.RedisClientOpt{Addr: m.Addr()}, Redis: rdb,
		Accounts: []Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: p}},
		Logger:   zerolog.New(l).Level(zerolog.DebugLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &handlerBundle{srv: srv, rdb: rdb, sender: sender, log: l}
}

func pushTask(t *testing.T, ref string) *asynq.Task {
	t.Helper()
	task, err := tasks.NewPushTask(tasks.PushPayload{
		Meta: tasks.Meta{Ref: ref, Account: tasks.DefaultAccount, Lane: tasks.LaneBulk},
		Body: leadsquared.PushNotification{UserId: fuzzGUID, Title: "Hot lead", Content: "Call now"}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func systemTask(t *testing.T, ref string) *asynq.Task {
	t.Helper()
	task, err := tasks.NewSystemTask(tasks.SystemPayload{
		Meta: tasks.Meta{Ref: ref, Account: tasks.DefaultAccount, Lane: tasks.LaneBulk},
		Body: leadsquared.SystemNotification{Type: "Lead", ToUser: fuzzGUID, CardContents: leadsquared.CardContents{Message: "New lead"}}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

var unlimited = Policy{Rate: Rate{Calls: 1_000_000, Window: time.Second}}

// An attempt's log line names the unit of its durations (the metrics are
// in seconds, the log in milliseconds): latency_ms, limiter_wait_ms.
func TestHandler_LogNamesTheUnits(t *testing.T) {
	t.Parallel()
	transient := &leadsquared.Error{Kind: leadsquared.KindTransient, Op: "push", StatusCode: 500}
	b := setupHandler(t, unlimited, &scriptedSender{err: map[string]error{"push": transient}})
	_ = b.srv.handler.ProcessTask(context.Background(), pushTask(t, "units"))
	lines := b.log.attempts(t)
	if len(lines) != 1 {
		t.Fatalf("%d attempt lines, want 1", len(lines))
	}
	for _, f := range []string{"latency_ms", "limiter_wait_ms"} {
		if _, ok := lines[0][f].(float64); !ok {
			t.Errorf("attempt line lacks the number %s: %v", f, lines[0])
		}
	}
	for _, f := range []string{"latency", "limiter_wait"} {
		if _, ok := lines[0][f]; ok {
			t.Errorf("attempt line has the unitless field %s: %v", f, lines[0])
		}
	}
}

// A task handed back while it waited for a slot logs and counts the wait it
// spent, not 0: the limiter returns no Grant on an error.
func TestHandler_HandedBackTaskLogsItsWait(t *testing.T) {
	t.Parallel()
	// One call per 3 s: the second task books the next slot, within the
	// wait limit, and sleeps until the stop.
	onePer3s := Policy{Rate: Rate{Calls: 1, Window: 3 * time.Second}}
	b := setupHandler(t, onePer3s, &scriptedSender{err: map[string]error{"push": &leadsquared.Error{Kind: leadsquared.KindTransient, Op: "push", StatusCode: 500}}})
	ctx := context.Background()
	_ = b.srv.handler.ProcessTask(ctx, pushTask(t, "first")) // takes the hour's only slot

	done := make(chan error, 1)
	go func() { done <- b.srv.handler.ProcessTask(ctx, pushTask(t, "second")) }()
	// The second task has booked the next slot, 3 s away, and sleeps.
	testutil.Eventually(t, 5*time.Second, func() bool {
		return b.rdb.ZCard(ctx, keys.Slots(tasks.DefaultAccount)).Val() == 2
	}, "the second task never booked its slot")
	close(b.srv.stop)
	select {
	case err := <-done:
		if IsFailure(err) {
			t.Fatalf("handed-back task: %v, want a deferral", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting task was not handed back at the stop")
	}

	lines := b.log.attempts(t)
	last := lines[len(lines)-1]
	if last["outcome"] != string(OutcomeHandedBack) {
		t.Fatalf("last attempt: %v, want handed back", last)
	}
	if w, _ := last["limiter_wait_ms"].(float64); w <= 0 {
		t.Errorf("handed-back task logged limiter_wait_ms %v, want the wait it spent", last["limiter_wait_ms"])
	}
	var m dto.Metric
	if err := b.srv.cfg.Metrics.LimiterWait.WithLabelValues(tasks.DefaultAccount, string(tasks.LaneBulk)).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetHistogram().GetSampleCount(); got != 2 {
		t.Errorf("lsqd_limiter_wait_seconds counted %d waits, want 2 (the handed-back one too)", got)
	}
}
