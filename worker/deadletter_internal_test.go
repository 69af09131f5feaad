package worker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// One sweep sorts the records by what asynq holds of their tasks.
func TestDeadLetters_Sweep(t *testing.T) {
	t.Parallel()
	m := testutil.Miniredis(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	d := &deadLetters{rdb: rdb, log: zerolog.Nop(), interval: time.Minute, now: func() time.Time { return now }}
	ctx := context.Background()
	add := func(ref string, at time.Time) string {
		dl := tasks.DeadLetter{ID: tasks.TaskID("acme", ref), Queue: "bulk", Kind: tasks.KindPush, Ref: ref,
			Account: "acme", Reason: "refused", FailedAt: at}
		d.record(dl)
		if err := rdb.Set(ctx, keys.Ref("acme", ref), "bulk", tasks.ArchivedRetention).Err(); err != nil {
			t.Fatal(err)
		}
		return dl.ID
	}
	kept := add("kept", now) // archived, in asynq's archive
	rdb.HSet(ctx, asynqTaskKey("bulk", kept), "state", "archived")
	rdb.ZAdd(ctx, asynqArchivedKey("bulk"), redis.Z{Score: 1, Member: kept})
	gone := add("gone", now)     // trimmed by asynq: no hash
	orphan := add("orphan", now) // trimmed as it was archived: a hash in no set
	rdb.HSet(ctx, asynqTaskKey("bulk", orphan), "state", "archived", "msg", "x")
	again := add("again", now) // run again from the UI
	rdb.HSet(ctx, asynqTaskKey("bulk", again), "state", "pending")
	active := add("active", now) // being archived right now
	rdb.HSet(ctx, asynqTaskKey("bulk", active), "state", "active")
	old := add("old", now.Add(-tasks.ArchivedRetention-time.Hour)) // past the retention
	taken := add("taken", now)                                     // dropped, but its ref was taken by a new task since
	rdb.Set(ctx, keys.Ref("acme", "taken"), "transactional", 0)

	if err := d.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	isDropped := func(id string) bool { return rdb.ZScore(ctx, keys.DeadLettersDropped, id).Err() == nil }
	hasRecord := func(id string) bool { return rdb.HExists(ctx, keys.DeadLetters, id).Val() }
	refKept := func(ref string) bool { return rdb.Exists(ctx, keys.Ref("acme", ref)).Val() == 1 }
	for _, c := range []struct {
		name            string
		id, ref         string
		record, dropped bool
		refKept         bool
	}{
		{"kept", kept, "kept", true, false, true},
		{"gone", gone, "gone", true, true, false},
		{"orphan", orphan, "orphan", true, true, false},
		{"again", again, "again", false, false, true},
		{"active", active, "active", true, false, true},
		{"old", old, "old", false, false, true},
		{"taken", taken, "taken", true, true, true},
	} {
		if hasRecord(c.id) != c.record || isDropped(c.id) != c.dropped || refKept(c.ref) != c.refKept {
			t.Errorf("%s: record %v, dropped %v, ref kept %v; want %v, %v, %v", c.name,
				hasRecord(c.id), isDropped(c.id), refKept(c.ref), c.record, c.dropped, c.refKept)
		}
	}
	if rdb.Exists(ctx, asynqTaskKey("bulk", orphan)).Val() != 0 {
		t.Error("the orphan hash asynq left is still there")
	}
	if n := rdb.ZCard(ctx, keys.DeadLetterIndex).Val(); n != 5 {
		t.Errorf("index holds %d, want the 5 records kept", n)
	}
	var rec tasks.DeadLetter
	if err := json.Unmarshal([]byte(rdb.HGet(ctx, keys.DeadLetters, gone).Val()), &rec); err != nil || rec.Ref != "gone" || rec.Reason != "refused" {
		t.Errorf("record of a dropped dead letter: %+v, %v", rec, err)
	}
	// A second sweep changes nothing.
	if err := d.sweep(ctx); err != nil || rdb.ZCard(ctx, keys.DeadLettersDropped).Val() != 3 {
		t.Errorf("second sweep: %v, %d dropped", err, rdb.ZCard(ctx, keys.DeadLettersDropped).Val())
	}
}
