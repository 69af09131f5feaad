package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// deadLetters keeps a record (tasks.DeadLetter) of every task the handler
// dead-letters, beside asynq's archive. asynq (v0.26.0) keeps at most
// 10,000 archived tasks a queue and deletes the oldest past that, task and
// payload, without a word, while their refs stayed claimed. The records stay
// for tasks.ArchivedRetention.
//
// A sweep, in one process at a time, checks the records against asynq's
// tasks: a task asynq dropped is marked dropped (keys.DeadLettersDropped:
// notifyctl dlq list and status show it, notifyd's lsqd_dead_letters_dropped
// counts it) and its ref is freed, so that it can be sent again from its source;
// a record whose task runs again (replayed in the UI) is removed; records
// past the retention go.
type deadLetters struct {
	rdb      redis.UniversalClient
	log      zerolog.Logger
	interval time.Duration
	now      func() time.Time
}

// deadLetterPage bounds one round trip of the sweep.
const deadLetterPage = 500

// record keeps the dead letter's record; it is written before asynq
// archives the task, so a sweep ignores a task still active.
func (d *deadLetters) record(dl tasks.DeadLetter) {
	data, err := json.Marshal(dl)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keys.DeadLetters, dl.ID, data)
		p.ZAdd(ctx, keys.DeadLetterIndex, redis.Z{Score: float64(dl.FailedAt.UnixMilli()), Member: dl.ID})
		p.ZRem(ctx, keys.DeadLettersDropped, dl.ID) // archived again after a drop: held by asynq once more
		return nil
	})
	if err != nil {
		d.log.Warn().Err(err).Str("ref", dl.Ref).Str("account", dl.Account).
			Msg("could not keep the dead letter's record: asynq's archive alone holds it")
	}
}

// run sweeps every interval until ctx is done.
func (d *deadLetters) run(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		won, err := d.rdb.SetNX(ctx, keys.DeadLetterSweepLock, "1", d.interval*9/10).Result()
		if err == nil && won {
			if err := d.sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("could not check the dead-letter records against asynq's archive")
			}
		}
	}
}

// asynqTaskKey is asynq's key of a task's hash (v0.26.0 base.TaskKey), whose
// field "state" says where the task is; asynq deletes the hash with the
// task.
func asynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// asynqArchivedKey is asynq's sorted set of a queue's archived tasks
// (v0.26.0 base.ArchivedKey).
func asynqArchivedKey(queue string) string { return "asynq:{" + queue + "}:archived" }

// orphanScript deletes the hash asynq leaves behind when it archives a task
// and trims that same task at once (asynq v0.26.0's archive script trims
// the archive, then writes the task's hash): state archived, in no set,
// never expiring, and refused by RunTask. Deleting it finishes asynq's trim.
//
// KEYS[1] -> asynq:{<queue>}:t:<id>
// KEYS[2] -> asynq:{<queue>}:archived
// ARGV[1] -> the task ID
//
// Returns 1 when it deleted an orphan.
var orphanScript = redis.NewScript(`
if redis.call("HGET", KEYS[1], "state") == "archived" and not redis.call("ZSCORE", KEYS[2], ARGV[1]) then
  return redis.call("DEL", KEYS[1])
end
return 0
`)

// freeRefScript frees the ref of a dropped dead letter: it deletes the
// registry entry if it still names the task's queue with the archived
// retention (a TTL beyond tasks.DefaultRetention), that is, if no new task
// took the ref meanwhile.
//
// KEYS[1] -> lsqd:{<account>}:ref:<ref>
// ARGV[1] -> the dead letter's queue
// ARGV[2] -> tasks.DefaultRetention in milliseconds
//
// Returns 1 when it freed the ref.
var freeRefScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] and redis.call("PTTL", KEYS[1]) > tonumber(ARGV[2]) then
  return redis.call("DEL", KEYS[1])
end
return 0
`)

// sweep checks every record not yet marked dropped against asynq's task,
// and removes the records past the retention.
func (d *deadLetters) sweep(ctx context.Context) error {
	now := d.now()
	cutoff := strconv.FormatInt(now.Add(-tasks.ArchivedRetention).UnixMilli(), 10)
	old, err := d.rdb.ZRangeByScore(ctx, keys.DeadLetterIndex, &redis.ZRangeBy{Min: "-inf", Max: cutoff}).Result()
	if err != nil {
		return err
	}
	if err := d.forget(ctx, old); err != nil {
		return err
	}
	for start := int64(0); ; start += deadLetterPage {
		ids, err := d.rdb.ZRange(ctx, keys.DeadLetterIndex, start, start+deadLetterPage-1).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		gone, err := d.check(ctx, ids, now)
		if err != nil {
			return err
		}
		start -= int64(gone) // the forgotten records left the index
	}
}

// check looks up the tasks of one page of records; it returns how many
// records it removed from the index.
func (d *deadLetters) check(ctx context.Context, ids []string, now time.Time) (int, error) {
	raw, err := d.rdb.HMGet(ctx, keys.DeadLetters, ids...).Result()
	if err != nil {
		return 0, err
	}
	recs := make([]tasks.DeadLetter, len(ids))
	dropped := make([]*redis.FloatCmd, len(ids))
	state := make([]*redis.StringCmd, len(ids))
	inArchive := make([]*redis.FloatCmd, len(ids))
	_, err = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			s, _ := raw[i].(string)
			if s == "" || json.Unmarshal([]byte(s), &recs[i]) != nil {
				continue
			}
			dropped[i] = p.ZScore(ctx, keys.DeadLettersDropped, id)
			state[i] = p.HGet(ctx, asynqTaskKey(recs[i].Queue, id), "state")
			inArchive[i] = p.ZScore(ctx, asynqArchivedKey(recs[i].Queue), id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var forget []string
	for i, id := range ids {
		switch {
		case state[i] == nil: // no record behind the index entry
			forget = append(forget, id)
		case dropped[i].Err() == nil: // already marked dropped
		case errors.Is(state[i].Err(), redis.Nil):
			d.dropped(ctx, recs[i], now)
		case state[i].Err() != nil:
			return 0, state[i].Err()
		case state[i].Val() == "archived" && errors.Is(inArchive[i].Err(), redis.Nil):
			// asynq trimmed the task as it archived it, and left its hash.
			if n, err := orphanScript.Run(ctx, d.rdb, []string{asynqTaskKey(recs[i].Queue, id), asynqArchivedKey(recs[i].Queue)}, id).Int(); err == nil && n == 1 {
				d.dropped(ctx, recs[i], now)
			}
		case state[i].Val() == "archived", state[i].Val() == "active":
			// Still a dead letter, or being archived (the record is
			// written just before), or a replay running: left alone.
		default:
			forget = append(forget, id) // runs again: no longer a dead letter
		}
	}
	return len(forget), d.forget(ctx, forget)
}

// dropped marks a record whose task asynq no longer holds, and frees its ref.
func (d *deadLetters) dropped(ctx context.Context, dl tasks.DeadLetter, now time.Time) {
	if err := d.rdb.ZAdd(ctx, keys.DeadLettersDropped, redis.Z{Score: float64(now.UnixMilli()), Member: dl.ID}).Err(); err != nil {
		return
	}
	freed, _ := freeRefScript.Run(ctx, d.rdb, []string{keys.Ref(dl.Account, dl.Ref)}, dl.Queue,
		tasks.DefaultRetention.Milliseconds()).Int()
	d.log.Warn().Str("ref", dl.Ref).Str("account", dl.Account).Str("queue", dl.Queue).Str("reason", dl.Reason).
		Bool("ref_freed", freed == 1).
		Msg("asynq dropped a dead letter past its archive cap (10,000 a queue): its body is gone, its record stays in notifyctl dlq list, its ref is free to send it again")
}

// forget removes records, their index entries and drop marks.
func (d *deadLetters) forget(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, keys.DeadLetters, ids...)
		members := make([]any, len(ids))
		for i, id := range ids {
			members[i] = id
		}
		p.ZRem(ctx, keys.DeadLetterIndex, members...)
		p.ZRem(ctx, keys.DeadLettersDropped, members...)
		return nil
	})
	return err
}
