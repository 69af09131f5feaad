package enqueue_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// deadLetters enqueues one system and two push notifications (one bulk) and
// archives them, as the worker does with a LeadSquared 400, setting the
// refs' archived retention.
func deadLetters(t *testing.T, b *testBundle) {
	t.Helper()
	_, _ = b.client.SendSystem(b.ctx, systemBody("Lead 1 assigned"), enqueue.WithRef("s1"))
	_, _ = b.client.SendPush(b.ctx, pushBody("Hot lead"), enqueue.WithRef("p1"), enqueue.WithAccount("eu"))
	_, _ = b.client.SendPush(b.ctx, pushBody("Bulk"), enqueue.WithRef("p2"), enqueue.Bulk(), enqueue.WithCampaign("spring"))
	w := startWorker(t, b, archive("LeadSquared refused the notification (MXInvalidInputException)"))
	for _, id := range [][2]string{{"default", "s1"}, {"eu", "p1"}, {"default", "p2"}} {
		b.waitState(t, id[0], id[1], "archived")
		_ = b.rdb.Expire(b.ctx, "lsqd:{"+id[0]+"}:ref:"+id[1], tasks.ArchivedRetention).Err()
	}
	w.stop()
}

func TestClient_DeadLetters(t *testing.T) {
	t.Parallel()

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if dl, err := b.control.DeadLetters(b.ctx, 0); err != nil || len(dl) != 0 {
			t.Fatalf("empty: %v, %v", dl, err)
		}
		deadLetters(t, b)
		dl, err := b.control.DeadLetters(b.ctx, 0)
		if err != nil || len(dl) != 3 {
			t.Fatalf("%+v, %v", dl, err)
		}
		byID := map[string]enqueue.DeadLetter{}
		for i, d := range dl {
			byID[d.ID] = d
			if i > 0 && d.LastFailedAt.After(dl[i-1].LastFailedAt) {
				t.Errorf("not newest first: %v", dl)
			}
			if !strings.Contains(d.LastError, "MXInvalidInputException") || d.LastFailedAt.IsZero() {
				t.Errorf("%s: %+v", d.ID, d)
			}
		}
		if d := byID["default:s1"]; d.Kind != tasks.KindSystem || d.Queue != "transactional" || d.Ref != "s1" || d.Summary != "to "+guid+": Lead 1 assigned" {
			t.Errorf("s1: %+v", d)
		}
		if d := byID["default:p2"]; d.Kind != tasks.KindPush || d.Queue != "bulk" || d.Campaign != "spring" || d.Summary != "Bulk" {
			t.Errorf("p2: %+v", d)
		}
		if d := byID["eu:p1"]; d.Account != "eu" || d.Ref != "p1" {
			t.Errorf("p1: %+v", d)
		}
		if dl, _ := b.control.DeadLetters(b.ctx, 2); len(dl) != 2 {
			t.Errorf("limit 2: %d", len(dl))
		}
	})

	t.Run("ReplayAndPurge", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		deadLetters(t, b)
		_, _ = b.client.SendSystem(b.ctx, systemBody("alive"), enqueue.WithRef("alive"))

		n, err := b.control.ReplayDeadLetters(b.ctx, "default:s1", "default:nope", "default:alive", "garbage")
		if n != 1 || !errors.Is(err, enqueue.ErrNotFound) || !errors.Is(err, enqueue.ErrNotDeadLetter) {
			t.Errorf("replay: %d, %v; want 1 and both errors", n, err)
		}
		if st, _ := b.client.Status(b.ctx, "default", "s1"); st.State != "pending" {
			t.Errorf("s1 after replay: %s", st.State)
		}
		if v, ttl := b.entry(t, "default", "s1"); v != "transactional" || ttl != -1 {
			t.Errorf("s1's entry after replay: %q, TTL %s; want it kept without TTL", v, ttl)
		}

		n, err = b.control.PurgeDeadLetters(b.ctx, "eu:p1")
		if n != 1 || err != nil {
			t.Errorf("purge: %d, %v", n, err)
		}
		if _, err := b.client.Status(b.ctx, "eu", "p1"); !errors.Is(err, enqueue.ErrNotFound) {
			t.Errorf("p1 after purge: %v", err)
		}
		if res, err := b.client.SendPush(b.ctx, pushBody("again"), enqueue.WithRef("p1"), enqueue.WithAccount("eu")); err != nil || res.Duplicate {
			t.Errorf("reuse a purged ref: %+v, %v", res, err)
		}
	})

	t.Run("ReplayAllAndPurgeAll", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		deadLetters(t, b)
		if n, err := b.control.ReplayAllDeadLetters(b.ctx); n != 3 || err != nil {
			t.Errorf("replay all: %d, %v", n, err)
		}
		if st, _ := b.control.Stats(b.ctx); st.Queues[0].Pending != 2 || st.Queues[1].Pending != 1 {
			t.Errorf("after replay all: %+v", st.Queues)
		}
		deadLetters(t, b) // archives them again
		if n, err := b.control.PurgeAllDeadLetters(b.ctx); n != 3 || err != nil {
			t.Errorf("purge all: %d, %v", n, err)
		}
		if keys := b.rdb.Keys(b.ctx, "lsqd:*").Val(); len(keys) != 0 {
			t.Errorf("entries left after purge all: %v", keys)
		}
		if dl, _ := b.control.DeadLetters(b.ctx, 0); len(dl) != 0 {
			t.Errorf("dead letters left: %v", dl)
		}
	})
}
