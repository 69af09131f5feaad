package worker

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

const fuzzGUID = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

// fuzzSeeds are payloads of both kinds, good and broken.
func fuzzSeeds(f *testing.F) {
	sys, _ := json.Marshal(tasks.SystemPayload{
		Meta: tasks.Meta{Ref: "lead-42", Account: tasks.DefaultAccount, Lane: tasks.LaneBulk, EnqueuedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Campaign: "c"},
		Body: leadsquared.SystemNotification{Type: "Lead", ToUser: fuzzGUID, CardContents: leadsquared.CardContents{Message: "New lead"}}})
	push, _ := json.Marshal(tasks.PushPayload{
		Meta: tasks.Meta{Ref: "sig-7", Account: tasks.DefaultAccount, Lane: tasks.LaneTransactional},
		Body: leadsquared.PushNotification{UserId: fuzzGUID, Title: "Hot lead", Content: "Call now"}})
	f.Add(tasks.TypeSystem, sys)
	f.Add(tasks.TypePush, push)
	f.Add(tasks.TypePush, sys)
	f.Add(tasks.TypeSystem, []byte(`{"ref":"r","account":"other","lane":"bulk","body":{"Type":"Lead","CardContents":{"Message":"m"},"ToUser":"`+fuzzGUID+`"}}`))
	f.Add(tasks.TypeSystem, []byte(`{"ref":"r","account":"default","lane":"fast","body":{}}`))
	f.Add(tasks.TypePush, []byte(`{"ref":"r","account":"default","lane":"bulk","enqueued_at":"2026-01-02T03:04:05+05:30","body":{"Title":"\ud800","Content":"x"}}`))
	f.Add("lsq:other", []byte(`{}`))
	f.Add(tasks.TypeSystem, []byte(`not json`))
	f.Add(tasks.TypeSystem, []byte(`null`))
}

// FuzzDecode: decode (the handler's payload decoder) never panics; what it
// accepts has a ref, an account, a real lane and the body of its kind; and
// it is the producer's format: encoding the result with tasks.NewSystemTask
// or NewPushTask and decoding again gives the same notification.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, typeName string, payload []byte) {
		kind, ok := tasks.KindOf(typeName)
		if !ok {
			return
		}
		meta, c, err := decode(kind, payload)
		if err != nil {
			return
		}
		if meta.Ref == "" || meta.Account == "" || (meta.Lane != tasks.LaneBulk && meta.Lane != tasks.LaneTransactional) {
			t.Fatalf("decode accepted meta %+v", meta)
		}
		if (kind == tasks.KindSystem) != (c.system != nil) || (kind == tasks.KindPush) != (c.push != nil) {
			t.Fatalf("decode of a %s gave system %v, push %v", kind, c.system != nil, c.push != nil)
		}
		var task *asynq.Task
		if kind == tasks.KindSystem {
			task, err = tasks.NewSystemTask(tasks.SystemPayload{Meta: meta, Body: *c.system})
		} else {
			task, err = tasks.NewPushTask(tasks.PushPayload{Meta: meta, Body: *c.push})
		}
		if err != nil {
			t.Fatalf("the producer cannot encode what the worker decoded (%+v): %v", meta, err)
		}
		meta2, c2, err := decode(kind, task.Payload())
		if err != nil {
			t.Fatalf("decode of the producer's payload %s: %v", task.Payload(), err)
		}
		if !meta2.EnqueuedAt.Equal(meta.EnqueuedAt) {
			t.Fatalf("enqueued_at changed in a round trip: %v, then %v", meta.EnqueuedAt, meta2.EnqueuedAt)
		}
		meta.EnqueuedAt, meta2.EnqueuedAt = time.Time{}, time.Time{}
		if meta != meta2 || !reflect.DeepEqual(c, c2) {
			t.Fatalf("a round trip changed the notification:\n%+v %+v\n%+v %+v", meta, c, meta2, c2)
		}
	})
}

// recordingSender records what it is asked to send and refuses it with a
// 400, so that the handler archives the task and never writes a result.
type recordingSender struct {
	mu     sync.Mutex
	system []leadsquared.SystemNotification
	push   []leadsquared.PushNotification
}

var errRefused = &leadsquared.Error{Kind: leadsquared.KindPermanent, Op: "fuzz", StatusCode: 400}

func (s *recordingSender) SendSystem(_ context.Context, n leadsquared.SystemNotification) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.system = append(s.system, n)
	return "", errRefused
}

func (s *recordingSender) SendPush(_ context.Context, n leadsquared.PushNotification) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push = append(s.push, n)
	return "", errRefused
}

func (s *recordingSender) CheckKeys(context.Context) (*leadsquared.User, error) {
	return &leadsquared.User{Id: fuzzGUID, Name: "fuzz"}, nil
}

func (s *recordingSender) take() (sys []leadsquared.SystemNotification, push []leadsquared.PushNotification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sys, push, s.system, s.push = s.system, s.push, nil, nil
	return sys, push
}

// FuzzHandler_ProcessTask runs the handler on any task type and payload,
// with a Redis (miniredis) and a sender that refuses with a 400. The
// handler never panics; a task that is no notification, does not decode or
// does not validate is archived (SkipRetry) without a call; one for an
// account this process does not serve is deferred, not failed, without a
// call; and every other task is sent exactly once, with its decoded body,
// which validates.
func FuzzHandler_ProcessTask(f *testing.F) {
	fuzzSeeds(f)
	m := testutil.Miniredis(f)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	f.Cleanup(func() { _ = rdb.Close() })
	sender := &recordingSender{}
	s, err := New(Config{
		Queue: asynq.RedisClientOpt{Addr: m.Addr()}, Redis: rdb,
		Accounts: []Account{{Name: tasks.DefaultAccount, Sender: sender,
			Policy: Policy{Rate: Rate{Calls: 1_000_000, Window: time.Second}}}},
		Logger: zerolog.Nop(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typeName string, payload []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.handler.ProcessTask(ctx, asynq.NewTask(typeName, payload))
		sys, push := sender.take()
		calls := len(sys) + len(push)
		if err == nil {
			t.Fatal("nil error from a sender that always refuses")
		}
		kind, known := tasks.KindOf(typeName)
		var meta tasks.Meta
		var c call
		var derr error
		if known {
			meta, c, derr = decode(kind, payload)
		}
		switch {
		case !known || derr != nil:
			if !errors.Is(err, asynq.SkipRetry) || calls != 0 {
				t.Fatalf("undecodable task: error %v (SkipRetry %v), %d calls; want archived without a call", err, errors.Is(err, asynq.SkipRetry), calls)
			}
		case meta.Account != tasks.DefaultAccount:
			if IsFailure(err) || calls != 0 {
				t.Fatalf("task of unserved account %q: error %v, failure %v, %d calls; want deferred without a call", meta.Account, err, IsFailure(err), calls)
			}
		case c.validate() != nil:
			if !errors.Is(err, asynq.SkipRetry) || calls != 0 {
				t.Fatalf("invalid notification: error %v, %d calls; want archived without a call", err, calls)
			}
		default:
			if calls != 1 || !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("valid notification: %d calls, error %v; want one call, then archived for the 400", calls, err)
			}
			if len(sys) == 1 {
				if !reflect.DeepEqual(sys[0], *c.system) || sys[0].Validate() != nil {
					t.Fatalf("sent %+v, decoded %+v", sys[0], *c.system)
				}
			} else if !reflect.DeepEqual(push[0], *c.push) || push[0].Validate() != nil {
				t.Fatalf("sent %+v, decoded %+v", push[0], *c.push)
			}
		}
	})
}
