package enqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// claimLease is the TTL of a ref registry entry from its claim until its task
// is enqueued and the entry is confirmed (made permanent). While the lease
// runs, no other producer may take the entry over as stale, and a producer
// that dies between claim and enqueue leaves no ghost behind for long.
// The worker's retention TTL (tasks.DefaultRetention) must be longer.
const claimLease = time.Minute

// States beyond asynq's own (pending, active, scheduled, retry, archived,
// completed) that a Result or StatusInfo may hold.
const (
	// StateEnqueuing: a producer claimed the ref and is enqueuing its task now.
	StateEnqueuing = "enqueuing"
	// StateCompleted: the task was delivered; its ref is kept until the
	// retention ends, even when asynq no longer holds the task.
	StateCompleted = "completed"
	// StateExpired: the notification's expiry passed before a worker called
	// LeadSquared, so none ever will.
	StateExpired = "expired"
	// StateCancelled: the notification's campaign was cancelled before a
	// worker called LeadSquared; its ref is free.
	StateCancelled = "cancelled"
)

// takeoverScript claims a ref registry entry that is missing or stale: it
// still names the queue the caller found the task missing from, and it has
// no TTL (a lease or a retention TTL means someone still owns it).
//
// KEYS[1] -> lsqd:{<account>}:ref:<ref>
// ARGV[1] -> the queue the entry named when the task was found missing
// ARGV[2] -> the queue of the new claim
// ARGV[3] -> the lease, in milliseconds
//
// Returns 1 when the entry is now the caller's (with the lease), 0 otherwise.
var takeoverScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == false or (v == ARGV[1] and redis.call("PTTL", KEYS[1]) == -1) then
  redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
  return 1
end
return 0
`)

// confirmScript makes claimed entries permanent once their tasks are
// enqueued: it drops the lease, but not a retention TTL the worker may
// already have set (longer than any lease), and it writes an entry again if
// its lease ran out. The keys must share a slot (one account's keys do).
//
// KEYS[i]   -> lsqd:{<account>}:ref:<ref>
// ARGV[1]   -> the lease, in milliseconds
// ARGV[1+i] -> the queue of KEYS[i]'s task
//
// Returns how many entries name their queue; the others are held by another
// producer.
var confirmScript = redis.NewScript(`
local n = 0
for i, key in ipairs(KEYS) do
  local v = redis.call("GET", key)
  if v == false then
    redis.call("SET", key, ARGV[1+i])
    n = n + 1
  elseif v == ARGV[1+i] then
    local ttl = redis.call("PTTL", key)
    if ttl > 0 and ttl <= tonumber(ARGV[1]) then
      redis.call("PERSIST", key)
    end
    n = n + 1
  end
end
return n
`)

// releaseScript deletes entries that still name their queue. The keys must
// share a slot.
//
// KEYS[i] -> lsqd:{<account>}:ref:<ref>
// ARGV[i] -> the queue of KEYS[i]'s task
//
// Returns how many it deleted.
var releaseScript = redis.NewScript(`
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call("GET", key) == ARGV[i] then
    n = n + redis.call("DEL", key)
  end
end
return n
`)

var leaseMillis = claimLease.Milliseconds()

// claim tries to create the entry with a lease.
func (c *Client) claim(ctx context.Context, key, queue string) (bool, error) {
	return c.rdb.SetNX(ctx, key, queue, claimLease).Result()
}

func (c *Client) confirm(ctx context.Context, key, queue string) error {
	return confirmScript.Run(ctx, c.rdb, []string{key}, leaseMillis, queue).Err()
}

func (c *core) release(ctx context.Context, key, queue string) error {
	return releaseScript.Run(ctx, c.rdb, []string{key}, queue).Err()
}

// holder describes the task that holds a ref another producer claimed first.
type holder struct {
	queue string
	info  *asynq.TaskInfo // nil when the task is gone
	state string
}

// examine looks at an entry whose claim failed. It takes the entry over when
// it is missing or stale, and otherwise says who holds the ref.
func (c *Client) examine(ctx context.Context, key, id, queue string) (claimed bool, h holder, err error) {
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, h, fmt.Errorf("read ref registry entry %s: %w", key, err)
	}
	h.queue, _ = get.Result()
	if h.queue != "" {
		info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(h.queue, id) })
		switch {
		case err == nil:
			h.info, h.state = info, stateName(info.State)
			return false, h, nil
		case !isNotFound(err):
			return false, h, fmt.Errorf("look up task %s in queue %s: %w", id, h.queue, err)
		}
		if h.state = goneState(pttl.Val()); h.state != "" {
			return false, h, nil
		}
		// No TTL and no task: stale (the task was deleted), take it over.
	}
	n, err := takeoverScript.Run(ctx, c.rdb, []string{key}, h.queue, queue, leaseMillis).Int()
	if err != nil {
		return false, h, fmt.Errorf("take over ref registry entry %s: %w", key, err)
	}
	return n == 1, h, nil
}

// goneState names the state of a ref whose entry has the TTL ttl but whose
// task asynq no longer holds, from who set the TTL: a producer's lease
// (enqueuing now), or the worker's retention after delivery (completed) or
// after archiving (tasks.ArchivedRetention: archived, then deleted). It
// returns "" for an entry without TTL (stale) or without entry.
func goneState(ttl time.Duration) string {
	switch {
	case ttl > tasks.DefaultRetention:
		return asynq.TaskStateArchived.String()
	case ttl > claimLease:
		return StateCompleted
	case ttl >= 0:
		return StateEnqueuing
	}
	return ""
}

// isNotFound reports whether an Inspector error means the task is not there.
func isNotFound(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}

// claimScripts runs a multi-key registry script (confirmScript,
// releaseScript) for items, one call per account (per slot), all in one
// pipeline: EVALSHA, then EVAL again when Redis lost its script cache.
// Each item adds its queue to the arguments, after lead.
func claimScripts(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, items []*item, lead ...any) error {
	if len(items) == 0 {
		return nil
	}
	type call struct {
		keys []string
		args []any
	}
	var calls []*call
	byAccount := map[string]*call{}
	for _, it := range items {
		cl := byAccount[it.meta.Account]
		if cl == nil {
			cl = &call{args: append([]any(nil), lead...)}
			byAccount[it.meta.Account] = cl
			calls = append(calls, cl)
		}
		cl.keys = append(cl.keys, it.key())
		cl.args = append(cl.args, it.queue())
	}
	run := func(eval bool) error {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, cl := range calls {
				if eval {
					script.Eval(ctx, p, cl.keys, cl.args...)
				} else {
					script.EvalSha(ctx, p, cl.keys, cl.args...)
				}
			}
			return nil
		})
		return err
	}
	err := run(false)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = run(true) // the scripts are idempotent
	}
	return err
}
