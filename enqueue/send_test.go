package enqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestClient_SendSystem(t *testing.T) {
	t.Parallel()

	t.Run("EnqueuesWithRefAsExternalReference", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res, err := b.client.SendSystem(b.ctx, systemBody("New lead"), enqueue.WithRef("lead-42"), enqueue.WithCampaign("spring"))
		if err != nil {
			t.Fatal(err)
		}
		want := enqueue.Result{Ref: "lead-42", Account: tasks.DefaultAccount, Lane: tasks.LaneTransactional,
			Queue: "transactional", TaskID: "default:lead-42", State: "pending", ProcessAt: res.ProcessAt}
		if res != want {
			t.Errorf("result\n got %+v\nwant %+v", res, want)
		}
		info := b.task(t, "transactional", "default", "lead-42")
		if info.Type != tasks.TypeSystem || info.MaxRetry != tasks.DefaultMaxRetry || info.Retention != tasks.DefaultRetention {
			t.Errorf("task: type %s, max retry %d, retention %s", info.Type, info.MaxRetry, info.Retention)
		}
		p := decodeSystem(t, info.Payload)
		if p.Ref != "lead-42" || p.Account != "default" || p.Lane != tasks.LaneTransactional || p.Campaign != "spring" || p.EnqueuedAt.IsZero() {
			t.Errorf("meta: %+v", p.Meta)
		}
		if es := p.Body.ExternalSource; es == nil || es.ExternalReferenceId != "lead-42" || es.InvocationSource != "lsqdispatch" {
			t.Errorf("ExternalSource: %+v", es)
		}
		if p.Body.CardContents.Message != "New lead" || p.Body.ToUser != guid {
			t.Errorf("body: %+v", p.Body)
		}
		if v, ttl := b.entry(t, "default", "lead-42"); v != "transactional" || ttl != -1 {
			t.Errorf("registry entry: %q, TTL %s; want transactional without TTL", v, ttl)
		}
	})

	t.Run("KeepsTheBodysExternalReference", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		n := systemBody("hi")
		n.ExternalSource = &leadsquared.ExternalSource{ExternalReferenceId: "crm-9", InvocationSource: "Platform"}
		if _, err := b.client.SendSystem(b.ctx, n, enqueue.WithRef("r1")); err != nil {
			t.Fatal(err)
		}
		p := decodeSystem(t, b.task(t, "transactional", "default", "r1").Payload)
		if *p.Body.ExternalSource != *n.ExternalSource {
			t.Errorf("ExternalSource %+v, want %+v", p.Body.ExternalSource, n.ExternalSource)
		}
	})

	t.Run("GeneratesARef", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r1, err1 := b.client.SendSystem(b.ctx, systemBody("a"))
		r2, err2 := b.client.SendSystem(b.ctx, systemBody("a"))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if len(r1.Ref) != 36 || r1.Ref == r2.Ref || r1.Duplicate || r2.Duplicate {
			t.Errorf("refs %q and %q: want two distinct UUIDs", r1.Ref, r2.Ref)
		}
	})

	t.Run("NamesEveryProblemAndTouchesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		n := leadsquared.SystemNotification{ToUser: "bob", CardContents: leadsquared.CardContents{
			Message: strings.Repeat("x", 201), CTA: &leadsquared.CTA{CTALabel: "Go", CTALink: "ftp://x"}}}
		_, err := b.client.SendSystem(b.ctx, n, enqueue.WithRef("a\nb"), enqueue.WithAccount("no spaces"))
		var ve *leadsquared.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want a *leadsquared.ValidationError", err)
		}
		var fields []string
		for _, p := range ve.Problems {
			fields = append(fields, p.Field)
		}
		want := "ref account Type CardContents.Message CardContents.CTA.CTALink ToUser"
		if got := strings.Join(fields, " "); got != want {
			t.Errorf("fields %q, want %q (%v)", got, want, err)
		}
		if n := b.rdb.DBSize(b.ctx).Val(); n != 0 {
			t.Errorf("Redis holds %d keys after invalid input, want 0", n)
		}
	})

	t.Run("RefLimits", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, tc := range []struct {
			ref, reason string
		}{
			{strings.Repeat("é", 200), ""},
			{strings.Repeat("é", 201), "201 characters, over the limit of 200"},
			{"   ", "blank (only spaces)"},
			{"a\tb", "contains a control character (tab, newline, …)"},
			{"bad\xff", "not valid UTF-8"},
		} {
			_, err := b.client.SendPush(b.ctx, pushBody("t"), enqueue.WithRef(tc.ref))
			var ve *leadsquared.ValidationError
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("ref %q: %v", tc.ref, err)
			case tc.reason != "" && (!errors.As(err, &ve) || ve.Problems[0] != leadsquared.FieldError{Field: "ref", Reason: tc.reason}):
				t.Errorf("ref %q: err %v, want ref: %s", tc.ref, err, tc.reason)
			}
		}
	})
}

func TestClient_SendDuplicates(t *testing.T) {
	t.Parallel()

	t.Run("AcrossKindsAndLanes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x")); err != nil {
			t.Fatal(err)
		}
		for _, opts := range [][]enqueue.SendOption{
			{enqueue.WithRef("x")},
			{enqueue.WithRef("x"), enqueue.Bulk()},
			{enqueue.WithRef("x"), enqueue.Bulk(), enqueue.In(time.Hour)},
		} {
			res, err := b.client.SendPush(b.ctx, pushBody("b"), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Duplicate || res.State != "pending" || res.Queue != "transactional" || res.Lane != tasks.LaneTransactional {
				t.Errorf("second send: %+v; want a duplicate of the pending transactional task", res)
			}
		}
		if n := b.taskCount(t, "transactional") + b.taskCount(t, "bulk"); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})

	t.Run("OtherAccountIsNoDuplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r1, err1 := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x"))
		r2, err2 := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x"), enqueue.WithAccount("eu.west_2"))
		if err1 != nil || err2 != nil || r1.Duplicate || r2.Duplicate || r2.TaskID != "eu.west_2:x" {
			t.Errorf("%+v %v / %+v %v", r1, err1, r2, err2)
		}
	})

	t.Run("StaleEntryIsTakenOver", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x")); err != nil {
			t.Fatal(err)
		}
		// Deleted from a UI: the entry stays, without TTL, naming an empty queue.
		if err := b.inspector.DeleteTask("transactional", "default:x"); err != nil {
			t.Fatal(err)
		}
		res, err := b.client.SendPush(b.ctx, pushBody("b"), enqueue.WithRef("x"), enqueue.Bulk())
		if err != nil || res.Duplicate || res.Queue != "bulk" {
			t.Fatalf("send after delete: %+v, %v; want a new bulk task", res, err)
		}
		if b.task(t, "bulk", "default", "x").Type != tasks.TypePush {
			t.Error("the new task is not the push")
		}
		if v, ttl := b.entry(t, "default", "x"); v != "bulk" || ttl != -1 {
			t.Errorf("entry %q, TTL %s; want bulk without TTL", v, ttl)
		}
	})

	t.Run("EntryWithTTLButNoTaskIsDuplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, tc := range []struct {
			ttl   time.Duration
			state string
		}{
			{30 * time.Second, enqueue.StateEnqueuing}, // another producer's lease
			{tasks.DefaultRetention, enqueue.StateCompleted},
			{tasks.ArchivedRetention, "archived"},
		} {
			ref := fmt.Sprintf("ttl-%s", tc.ttl)
			if err := b.rdb.Set(b.ctx, "lsqd:{default}:ref:"+ref, "bulk", tc.ttl).Err(); err != nil {
				t.Fatal(err)
			}
			res, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef(ref))
			if err != nil || !res.Duplicate || res.State != tc.state || res.Queue != "bulk" {
				t.Errorf("entry with TTL %s: %+v, %v; want a duplicate, state %s", tc.ttl, res, err, tc.state)
			}
		}
		if n := b.taskCount(t, "transactional"); n != 0 {
			t.Errorf("%d tasks, want 0", n)
		}
	})

	t.Run("ExistingTaskWithoutEntryIsDuplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		aq := asynq.NewClientFromRedisClient(b.rdb)
		if _, err := aq.EnqueueContext(b.ctx, asynq.NewTask(tasks.TypePush, []byte(`{}`)),
			asynq.Queue("transactional"), asynq.TaskID("default:x")); err != nil {
			t.Fatal(err)
		}
		res, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x"))
		if err != nil || !res.Duplicate || res.State != "pending" {
			t.Errorf("%+v, %v; want a duplicate of the pending task", res, err)
		}
		if v, ttl := b.entry(t, "default", "x"); v != "transactional" || ttl != -1 {
			t.Errorf("entry %q, TTL %s; want it to name the task's queue, without TTL", v, ttl)
		}
	})

	t.Run("ConcurrentSendsOfOneRef", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const n = 24
		var wg sync.WaitGroup
		results := make([]enqueue.Result, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				opts := []enqueue.SendOption{enqueue.WithRef("race")}
				if i%2 == 1 {
					opts = append(opts, enqueue.Bulk())
				}
				results[i], errs[i] = b.client.SendSystem(b.ctx, systemBody("a"), opts...)
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("send %d: %v", i, errs[i])
			}
			if !results[i].Duplicate {
				fresh++
			}
		}
		tasksN := b.taskCount(t, "transactional") + b.taskCount(t, "bulk")
		if fresh != 1 || tasksN != 1 {
			t.Errorf("%d sends enqueued and %d tasks exist; want exactly 1", fresh, tasksN)
		}
	})
}

func TestClient_SendScheduling(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	res, err := b.client.SendPush(b.ctx, pushBody("later"), enqueue.WithRef("at"), enqueue.At(at), enqueue.Bulk())
	if err != nil || res.State != "scheduled" || !res.ProcessAt.Equal(at) || res.Queue != "bulk" {
		t.Errorf("At: %+v, %v; want scheduled at %s in bulk", res, err, at)
	}
	if info := b.task(t, "bulk", "default", "at"); info.State != asynq.TaskStateScheduled || !info.NextProcessAt.Equal(at) {
		t.Errorf("task: %s at %s", info.State, info.NextProcessAt)
	}
	before := time.Now()
	res, err = b.client.SendPush(b.ctx, pushBody("later"), enqueue.WithRef("in"), enqueue.In(time.Hour))
	if err != nil || res.State != "scheduled" || res.ProcessAt.Before(before.Add(time.Hour-time.Second)) {
		t.Errorf("In: %+v, %v", res, err)
	}
	res, err = b.client.SendPush(b.ctx, pushBody("now"), enqueue.WithRef("past"), enqueue.At(time.Now().Add(-time.Hour)))
	if err != nil || res.State != "pending" {
		t.Errorf("At in the past: %+v, %v; want pending", res, err)
	}
}

func TestClient_RedisDown(t *testing.T) {
	t.Parallel()
	b := setup(t, testutilAOF())
	for i := range 3 {
		if _, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef(fmt.Sprint("kept-", i))); err != nil {
			t.Fatal(err)
		}
	}
	b.redis.Stop()
	_, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("lost"))
	if err == nil || !strings.Contains(err.Error(), `claim ref "lost"`) {
		t.Errorf("send with Redis down: %v; want an error naming the claim", err)
	}
	_, err = b.client.Status(b.ctx, "default", "kept-0")
	if err == nil || errors.Is(err, enqueue.ErrNotFound) {
		t.Errorf("status with Redis down: %v; want a Redis error", err)
	}
	b.redis.Restart()
	for i := range 3 {
		st, err := b.client.Status(b.ctx, "default", fmt.Sprint("kept-", i))
		if err != nil || st.State != "pending" {
			t.Errorf("after restart, kept-%d: %+v, %v", i, st, err)
		}
	}
	if _, err := b.client.Status(b.ctx, "default", "lost"); !errors.Is(err, enqueue.ErrNotFound) {
		t.Errorf("the failed send left something: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string
	}{
		{"", "set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0"},
		{"http://h:1", `scheme "http" is not supported`},
		{"redis://u:s3cret@127.0.0.1:1/0", "Redis at redis://u:xxxxx@127.0.0.1:1/0 does not answer PING"},
		{"redis://:s3cret@[::1/0", "does not parse"},
		{"redis://:s3cret@127.0.0.1:1/x", "the database number"},
	} {
		_, err := enqueue.New(t.Context(), tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q): %v; want it to say %q and hide the password", tc.url, err, tc.want)
		}
	}
}

func TestNewFromOptions(t *testing.T) {
	t.Parallel()
	if _, err := enqueue.NewFromOptions(t.Context(), nil); err == nil {
		t.Error("nil options: no error")
	}
	b := setup(t)
	c, err := enqueue.NewFromOptions(b.ctx, &redis.UniversalOptions{Addrs: []string{b.redis.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, err := c.SendPush(b.ctx, pushBody("t"), enqueue.WithRef("u")); err != nil || res.State != "pending" {
		t.Errorf("send: %+v, %v", res, err)
	}
	if _, err := enqueue.NewFromOptions(b.ctx, &redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}}); err == nil ||
		!strings.Contains(err.Error(), "127.0.0.1:1 does not answer PING") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestClient_CampaignCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	rep, err := b.client.Campaign(ctx, newCampaignLines("x", 5000), enqueue.CampaignOptions{})
	if !errors.Is(err, context.Canceled) || rep.Enqueued != 0 {
		t.Errorf("canceled campaign: %+v, %v", rep, err)
	}
	if n := b.rdb.DBSize(b.ctx).Val(); n != 0 {
		t.Errorf("%d keys after a canceled campaign", n)
	}
}
