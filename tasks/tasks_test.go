package tasks_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func meta(lane tasks.Lane) tasks.Meta {
	return tasks.Meta{Ref: "lead-42", Account: "eu", Lane: lane,
		EnqueuedAt: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Campaign: "winter"}
}

func TestNewSystemTask_PayloadRoundTrips(t *testing.T) {
	t.Parallel()
	p := tasks.SystemPayload{Meta: meta(tasks.LaneBulk), Body: leadsquared.SystemNotification{
		Type: "Lead", ToUser: "2f5508b5-f7ed-11ea-b39f-122cab85b441",
		CardContents: leadsquared.CardContents{Message: "New lead: Asha"}}}
	task, err := tasks.NewSystemTask(p)
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != tasks.TypeSystem {
		t.Errorf("type %q, want %q", task.Type(), tasks.TypeSystem)
	}
	var got tasks.SystemPayload
	if err := json.Unmarshal(task.Payload(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("decoded %+v, want %+v", got, p)
	}
	// LeadSquared's body is nested unchanged, under its own JSON names.
	if !strings.Contains(string(task.Payload()), `"body":{"Type":"Lead"`) {
		t.Errorf("payload %s does not nest LeadSquared's body as is", task.Payload())
	}
	m, err := tasks.DecodeMeta(task.Payload())
	if err != nil || m != p.Meta {
		t.Errorf("DecodeMeta = %+v, %v; want %+v", m, err, p.Meta)
	}
}

func TestNewPushTask_RefusesIncompleteMeta(t *testing.T) {
	t.Parallel()
	body := leadsquared.PushNotification{Title: "t", Content: "c"}
	for _, tc := range []struct {
		name string
		edit func(*tasks.Meta)
		want string
	}{
		{"NoRef", func(m *tasks.Meta) { m.Ref = "" }, "ref is empty"},
		{"NoAccount", func(m *tasks.Meta) { m.Account = "" }, "account is empty"},
		{"UnknownLane", func(m *tasks.Meta) { m.Lane = "urgent" }, `lane "urgent" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := meta(tasks.LaneTransactional)
			tc.edit(&m)
			_, err := tasks.NewPushTask(tasks.PushPayload{Meta: m, Body: body})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestKindOf_TypeNamesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range []tasks.Kind{tasks.KindSystem, tasks.KindPush} {
		if got, ok := tasks.KindOf(k.TypeName()); !ok || got != k {
			t.Errorf("KindOf(%q) = %q, %v; want %q", k.TypeName(), got, ok, k)
		}
	}
	if _, ok := tasks.KindOf("email:welcome"); ok {
		t.Error("KindOf accepted a type that is no notification")
	}
}

// The lanes' default options: the queue is the lane, the task ID is one per
// account and ref, and retries, timeout and retention are the documented ones.
func TestOptions_LaneDefaults(t *testing.T) {
	t.Parallel()
	got := map[asynq.OptionType]any{}
	for _, o := range tasks.Options(meta(tasks.LaneTransactional)) {
		got[o.Type()] = o.Value()
	}
	want := map[asynq.OptionType]any{
		asynq.QueueOpt:     "transactional",
		asynq.TaskIDOpt:    "eu:lead-42",
		asynq.MaxRetryOpt:  tasks.DefaultMaxRetry,
		asynq.TimeoutOpt:   tasks.DefaultTimeout,
		asynq.RetentionOpt: tasks.DefaultRetention,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options %v, want %v", got, want)
	}
	if tasks.Queues[string(tasks.LaneTransactional)] <= tasks.Queues[string(tasks.LaneBulk)] {
		t.Errorf("queue weights %v: the transactional lane must weigh more than bulk", tasks.Queues)
	}
}
