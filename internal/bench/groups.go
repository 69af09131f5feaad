package bench

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// releaseEvery is how often a baseline worker process releases the bulk
// tasks waiting in their groups: the tick of notifyd's FIFO scheduler
// (worker/dispatch.go, dispatchIdle).
const releaseEvery = 100 * time.Millisecond

// asynq's keys of the bulk queue (asynq v0.26.0, internal/base), as
// worker/dispatch.go names them.
const (
	bulkTaskPrefix  = "asynq:{bulk}:t:"
	bulkGroupPrefix = "asynq:{bulk}:g:"
	bulkGroups      = "asynq:{bulk}:groups"
	bulkPending     = "asynq:{bulk}:pending"
)

// releaseScript moves every task of every bulk group to the bulk queue and
// drops the task's group, so that a retry goes back to the queue, not to a
// group nobody releases (asynq's forwarder puts a task that names a group
// back in the group's set without listing the group again). It is
// worker/dispatch_lua.go's flushScript, which notifyd's FIFO scheduler runs.
//
// KEYS[1] groups  KEYS[2] pending  ARGV[1] task key prefix
// ARGV[2] group key prefix  ARGV[3] pending_since (ns). Returns the count.
var releaseScript = redis.NewScript(`
local n = 0
for _, g in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local gk = ARGV[2] .. g
  for _, id in ipairs(redis.call('ZRANGE', gk, 0, -1)) do
    local tk = ARGV[1] .. id
    if redis.call('EXISTS', tk) == 1 then
      redis.call('HSET', tk, 'state', 'pending', 'pending_since', ARGV[3])
      redis.call('HDEL', tk, 'group')
      redis.call('LPUSH', KEYS[2], id)
      n = n + 1
    end
  end
  redis.call('DEL', gk)
  redis.call('SREM', KEYS[1], g)
end
return n
`)

// releaseGroups releases the bulk tasks waiting in their asynq groups every
// releaseEvery, until ctx is done. The enqueue package puts bulk tasks in
// groups (tasks.Group) for notifyd's dispatch scheduler; the baselines
// (asynq's recipe, a plain handler) run no scheduler, and without this
// their bulk tasks would never run. Released so, the bulk lane is the
// single FIFO line those baselines had before the groups.
//
// It uses its own client, so the workers' command counts leave it out;
// Redis's own counts (INFO commandstats) include its few commands a tick.
func releaseGroups(ctx context.Context, rc *redis.Client) {
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		since := strconv.FormatInt(time.Now().UnixNano(), 10)
		_ = releaseScript.Run(ctx, rc, []string{bulkGroups, bulkPending}, bulkTaskPrefix, bulkGroupPrefix, since).Err()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
