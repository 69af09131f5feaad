package events_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func newConsumer(t *testing.T, b *testBundle, cfg events.ConsumerConfig) *events.Consumer {
	t.Helper()
	cfg.Group = cmpOr(cfg.Group, "g")
	cfg.Block = cmpOr(cfg.Block, 10*time.Millisecond)
	c, err := events.NewConsumer(b.rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func read(t *testing.T, b *testBundle, c *events.Consumer) []tasks.Event {
	t.Helper()
	evs, err := c.Read(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestNewConsumer_NeedsGroup(t *testing.T) {
	t.Parallel()
	if _, err := events.NewConsumer(redis.NewClient(&redis.Options{}), events.ConsumerConfig{}); err == nil {
		t.Fatal("no error without a group")
	}
}

func TestConsumer_Read(t *testing.T) {
	t.Parallel()

	t.Run("FromTheStartThenAck", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 3)
		c := newConsumer(t, b, events.ConsumerConfig{Consumer: "a"})
		evs := read(t, b, c)
		if got := refs(evs); !slices.Equal(got, []string{"r-0", "r-1", "r-2"}) {
			t.Fatalf("read %v", got)
		}
		if evs[0].ID == "" || evs[0].MessageID != "m-0" {
			t.Fatalf("first event %+v", evs[0])
		}
		if n := b.pending(t, "g"); n != 3 {
			t.Fatalf("%d pending before Ack, want 3", n)
		}
		if err := c.Ack(b.ctx, ids(evs)...); err != nil {
			t.Fatal(err)
		}
		if evs := read(t, b, c); len(evs) != 0 {
			t.Fatalf("read again: %v", refs(evs))
		}
		if n := b.pending(t, "g"); n != 0 {
			t.Fatalf("%d pending after Ack", n)
		}
	})

	t.Run("FromNow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "old", 2)
		c := newConsumer(t, b, events.ConsumerConfig{FromNow: true})
		if evs := read(t, b, c); len(evs) != 0 {
			t.Fatalf("a FromNow group read old events %v", refs(evs))
		}
		b.appendEvents(t, "new", 1)
		if got := refs(read(t, b, c)); !slices.Equal(got, []string{"new-0"}) {
			t.Fatalf("read %v", got)
		}
	})

	t.Run("CreatesTheStream", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := newConsumer(t, b, events.ConsumerConfig{})
		if evs := read(t, b, c); len(evs) != 0 {
			t.Fatalf("read %v from no stream", refs(evs))
		}
		b.appendEvents(t, "r", 1)
		if len(read(t, b, c)) != 1 {
			t.Fatal("the event appended after the group was created was not read")
		}
	})

	t.Run("ConsumersShareTheGroup", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 10)
		a := newConsumer(t, b, events.ConsumerConfig{Consumer: "a", Count: 4})
		c := newConsumer(t, b, events.ConsumerConfig{Consumer: "c", Count: 4})
		seen := map[string]int{}
		for range 3 {
			for _, cons := range []*events.Consumer{a, c} {
				for _, ev := range read(t, b, cons) {
					seen[ev.Ref]++
				}
			}
		}
		if len(seen) != 10 {
			t.Fatalf("read %d distinct events, want 10: %v", len(seen), seen)
		}
		for ref, n := range seen {
			if n != 1 {
				t.Errorf("%s read %d times", ref, n)
			}
		}
	})

	t.Run("RestartGetsOwnPendingFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 5)
		first := newConsumer(t, b, events.ConsumerConfig{Consumer: "a", Count: 3})
		evs := read(t, b, first)
		if err := first.Ack(b.ctx, evs[0].ID); err != nil {
			t.Fatal(err)
		}
		again := newConsumer(t, b, events.ConsumerConfig{Consumer: "a", Count: 1})
		var got []string
		for range 4 {
			got = append(got, refs(read(t, b, again))...)
		}
		if !slices.Equal(got, []string{"r-1", "r-2", "r-3", "r-4"}) {
			t.Fatalf("after a restart read %v, want r-1 and r-2 (pending) then r-3 and r-4", got)
		}
	})

	t.Run("ClaimsWhatADeadConsumerLeft", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 3)
		dead := newConsumer(t, b, events.ConsumerConfig{Consumer: "dead"})
		if len(read(t, b, dead)) != 3 {
			t.Fatal("the first consumer did not read the 3 events")
		}
		live := newConsumer(t, b, events.ConsumerConfig{Consumer: "live", ClaimIdle: 50 * time.Millisecond})
		var got []tasks.Event
		testutil.Eventually(t, 10*time.Second, func() bool {
			got = append(got, read(t, b, live)...)
			return len(got) >= 3
		}, "the live consumer never claimed the dead one's events")
		if r := refs(got); !slices.Equal(r, []string{"r-0", "r-1", "r-2"}) {
			t.Fatalf("claimed %v", r)
		}
		if err := live.Ack(b.ctx, ids(got)...); err != nil {
			t.Fatal(err)
		}
		if n := b.pending(t, "g"); n != 0 {
			t.Fatalf("%d pending after the claimed events were acknowledged", n)
		}
	})

	t.Run("SkipsMalformedEntries", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 1)
		bad, err := b.rdb.XAdd(b.ctx, &redis.XAddArgs{Stream: keys.Events, Values: []any{"x", "y"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		b.appendEvents(t, "s", 1)
		var skipped []string
		c := newConsumer(t, b, events.ConsumerConfig{OnMalformed: func(id string, _ error) { skipped = append(skipped, id) }})
		if got := refs(read(t, b, c)); !slices.Equal(got, []string{"r-0", "s-0"}) {
			t.Fatalf("read %v", got)
		}
		if !slices.Equal(skipped, []string{bad}) {
			t.Fatalf("OnMalformed got %v, want %s", skipped, bad)
		}
		if n := b.pending(t, "g"); n != 2 {
			t.Fatalf("%d pending, want the 2 events (the malformed entry acknowledged)", n)
		}
	})

	t.Run("RejoinsAfterTheStreamIsDeleted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.appendEvents(t, "r", 1)
		c := newConsumer(t, b, events.ConsumerConfig{})
		read(t, b, c)
		if err := b.rdb.Del(b.ctx, keys.Events).Err(); err != nil {
			t.Fatal(err)
		}
		if evs := read(t, b, c); len(evs) != 0 {
			t.Fatalf("read %v from a new stream", refs(evs))
		}
		b.appendEvents(t, "s", 1)
		if got := refs(read(t, b, c)); !slices.Equal(got, []string{"s-0"}) {
			t.Fatalf("read %v", got)
		}
	})
}

// Touch keeps entries from being claimed by resetting their idle time.
func TestConsumer_Touch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendEvents(t, "r", 2)
	c := newConsumer(t, b, events.ConsumerConfig{Consumer: "a"})
	evs := read(t, b, c)
	idle := func() time.Duration {
		p, err := b.rdb.XPendingExt(b.ctx, &redis.XPendingExtArgs{Stream: keys.Events, Group: "g", Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(p) != 2 {
			t.Fatalf("XPENDING: %v %v", p, err)
		}
		return min(p[0].Idle, p[1].Idle)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return idle() >= 200*time.Millisecond }, "the entries never aged")
	if err := c.Touch(b.ctx, ids(evs)...); err != nil {
		t.Fatal(err)
	}
	if d := idle(); d >= 200*time.Millisecond {
		t.Fatalf("idle %s after Touch", d)
	}
	if err := c.Ack(b.ctx, ids(evs)...); err != nil {
		t.Fatal(err)
	}
	if err := c.Touch(b.ctx, ids(evs)...); err != nil {
		t.Fatal(err)
	}
	if n := b.pending(t, "g"); n != 0 {
		t.Fatalf("Touch brought back %d acknowledged entries", n)
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if evs, err := events.Next(b.ctx, b.rdb, "", 10, 0); err != nil || len(evs) != 0 {
		t.Fatalf("no stream: %v %v", evs, err)
	}
	b.appendEvents(t, "r", 3)
	evs, err := events.Next(b.ctx, b.rdb, "", 2, 0)
	if err != nil || !slices.Equal(refs(evs), []string{"r-0", "r-1"}) {
		t.Fatalf("first page: %v %v", refs(evs), err)
	}
	evs, err = events.Next(b.ctx, b.rdb, evs[1].ID, 2, 0)
	if err != nil || !slices.Equal(refs(evs), []string{"r-2"}) {
		t.Fatalf("second page: %v %v", refs(evs), err)
	}
	last := evs[0].ID
	start := time.Now()
	if evs, err = events.Next(b.ctx, b.rdb, last, 2, 50*time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("waiting at the end: %v %v", refs(evs), err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("Next did not wait")
	}
}
