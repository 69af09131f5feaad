package events_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testBundle is a private redis-server holding the event stream.
type testBundle struct {
	ctx context.Context
	rdb *redis.Client
}

// setup gives the test a redis-server of its own: the stream's key is fixed,
// so tests cannot share one.
func setup(t *testing.T) *testBundle {
	t.Helper()
	if os.Getenv("REDIS_URL") != "" {
		t.Skip("needs a private redis-server (the stream's key is fixed); unset REDIS_URL")
	}
	return &testBundle{ctx: t.Context(), rdb: testutil.StartRedis(t).Client()}
}

// appendEvents appends n delivered events with refs prefix-0 … prefix-(n-1).
func (b *testBundle) appendEvents(t *testing.T, prefix string, n int) {
	t.Helper()
	evs := make([]tasks.Event, n)
	for i := range evs {
		evs[i] = tasks.Event{Type: tasks.EventDelivered, At: time.Unix(1733443200, 0), Account: "default",
			Ref: fmt.Sprintf("%s-%d", prefix, i), Kind: tasks.KindPush, MessageID: fmt.Sprintf("m-%d", i), Attempt: 1}
	}
	if err := events.Append(b.ctx, b.rdb, 0, evs...); err != nil {
		t.Fatal(err)
	}
}

// pending counts the group's entries read but not acknowledged.
func (b *testBundle) pending(t *testing.T, group string) int64 {
	t.Helper()
	p, err := b.rdb.XPending(b.ctx, keys.Events, group).Result()
	if err != nil {
		t.Fatalf("XPENDING %s: %v", group, err)
	}
	return p.Count
}

func refs(evs []tasks.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Ref
	}
	return out
}

func ids(evs []tasks.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}
