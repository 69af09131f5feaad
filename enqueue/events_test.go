package enqueue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// appendEvents appends a delivered event per ref, as notifyd's workers do.
func (b *testBundle) appendEvents(t *testing.T, campaign string, refs ...string) {
	t.Helper()
	var evs []tasks.Event
	for _, ref := range refs {
		evs = append(evs, tasks.Event{Type: tasks.EventDelivered, At: time.Now(), Account: tasks.DefaultAccount,
			Ref: ref, Campaign: campaign, Kind: tasks.KindSystem, MessageID: "m-" + ref, Attempt: 1})
	}
	if err := events.Append(b.ctx, b.rdb, 0, evs...); err != nil {
		t.Fatal(err)
	}
}

func eventRefs(evs []tasks.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Ref)
	}
	return out
}

func TestInspector_Events(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendEvents(t, "spring", "a", "b")
	b.appendEvents(t, "", "c")
	collect := func(q enqueue.EventQuery) []tasks.Event {
		t.Helper()
		var got []tasks.Event
		if err := b.control.Events(b.ctx, q, func(ev tasks.Event) error { got = append(got, ev); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := collect(enqueue.EventQuery{})
	if !slices.Equal(eventRefs(all), []string{"a", "b", "c"}) || all[0].ID == "" {
		t.Fatalf("all: %+v", all)
	}
	if got := eventRefs(collect(enqueue.EventQuery{After: all[0].ID})); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("after the first: %v", got)
	}
	if got := eventRefs(collect(enqueue.EventQuery{Campaign: "spring"})); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("campaign spring: %v", got)
	}
	stop := errors.New("stop")
	n := 0
	err := b.control.Events(b.ctx, enqueue.EventQuery{}, func(tasks.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn's error: %v after %d calls", err, n)
	}
}

// Following, new events arrive until the context ends.
func TestInspector_EventsFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendEvents(t, "", "old")
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- b.control.Events(ctx, enqueue.EventQuery{Follow: true}, func(ev tasks.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.Ref)
			return nil
		})
	}()
	seen := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= n }
	}
	testutil.Eventually(t, 5*time.Second, seen(1), "the old event never came")
	b.appendEvents(t, "", "new")
	testutil.Eventually(t, 5*time.Second, seen(2), "the new event never came")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Events returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Events did not return after its context ended")
	}
	if !slices.Equal(got, []string{"old", "new"}) {
		t.Errorf("got %v", got)
	}
}

func TestClient_EventReader(t *testing.T) {
	t.Parallel()

	t.Run("Validates", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for group, want := range map[string]string{"": "needs a group", events.WebhookGroup: "notifyd's webhook"} {
			if _, err := b.client.EventReader(enqueue.EventReaderConfig{Group: group}); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("group %q: %v, want an error containing %q", group, err, want)
			}
		}
	})

	// What a reader read and never acknowledged (its process died) goes to
	// another reader of the group after ClaimIdle; another group reads all.
	t.Run("ReclaimsFromADeadReader", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "", "a", "b", "c")
		reader := func(group, name string) *enqueue.EventReader {
			r, err := b.client.EventReader(enqueue.EventReaderConfig{Group: group, Consumer: name,
				Block: 10 * time.Millisecond, ClaimIdle: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		dead := reader("crm", "dead")
		if evs, err := dead.Read(b.ctx); err != nil || len(evs) != 3 {
			t.Fatalf("read %v, %v", eventRefs(evs), err)
		}
		live := reader("crm", "live")
		var got []tasks.Event
		testutil.Eventually(t, 10*time.Second, func() bool {
			evs, err := live.Read(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, evs...)
			return len(got) >= 3
		}, "the live reader never got the dead one's events")
		if !slices.Equal(eventRefs(got), []string{"a", "b", "c"}) {
			t.Fatalf("reclaimed %v", eventRefs(got))
		}
		for _, ev := range got {
			if err := live.Ack(b.ctx, ev.ID); err != nil {
				t.Fatal(err)
			}
		}
		if evs, err := reader("billing", "b1").Read(b.ctx); err != nil || len(evs) != 3 {
			t.Fatalf("another group read %v, %v", eventRefs(evs), err)
		}
	})
}
