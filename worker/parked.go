package worker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
)

// parkAccount is what parks a task while its whole account is halted.
const parkAccount = "account"

// unparkBatch caps the tasks one halt's end brings back at once; the rest
// come back when their deferral ends (within the probe interval).
const unparkBatch = 500

// parked remembers the tasks a halt deferred, so that the halt's end brings
// them back at once rather than when their deferral (the probe interval)
// runs out. A task deferred again while the halt lasts is parked again, so
// the set lives a few probe intervals past its last addition.
type parked struct {
	rdb  redis.Cmdable
	insp *asynq.Inspector
	log  zerolog.Logger
	ttl  time.Duration
}

func newParked(rdb redis.UniversalClient, log zerolog.Logger, probe time.Duration) *parked {
	return &parked{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb), log: log, ttl: 3 * max(probe, time.Minute)}
}

// park records the task the handler is deferring for a halt (what: a kind,
// or parkAccount). Losing the record only costs time: the task still comes
// back when its deferral ends.
func (p *parked) park(ctx context.Context, account, what string) {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	if id == "" || queue == "" {
		return // not run by asynq (a test's direct call)
	}
	key := keys.Parked(account, what)
	_, err := p.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.SAdd(ctx, key, queue+"/"+id)
		pl.Expire(ctx, key, p.ttl)
		return nil
	})
	if err != nil {
		p.log.Debug().Err(err).Str("account", account).Msg("could not park the halted task: it comes back when its deferral ends")
	}
}

// unpark brings the parked tasks back to their queues now that the halt
// ended. Each process that sees the end does it; SPOP hands each task to
// one of them. A task gone, already back or in another state since (or
// still in the handler that parked it, a moment's race) is skipped: a
// deferred one comes back when its deferral ends.
func (p *parked) unpark(ctx context.Context, account, what string) {
	members, err := p.rdb.SPopN(ctx, keys.Parked(account, what), unparkBatch).Result()
	if err != nil {
		p.log.Warn().Err(err).Str("account", account).Msg("could not read the tasks the halt deferred: they come back when their deferral ends")
		return
	}
	n := 0
	for _, m := range members {
		queue, id, ok := strings.Cut(m, "/")
		if !ok {
			continue
		}
		// Only a task still waiting out its deferral: one archived since
		// (a later 400) must not be run again.
		if info, err := p.insp.GetTaskInfo(queue, id); err != nil || info.State != asynq.TaskStateRetry {
			continue
		}
		if err := p.insp.RunTask(queue, id); err != nil {
			if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
				p.log.Debug().Err(err).Str("account", account).Str("task", id).Msg("a parked task did not come back at once")
			}
			continue
		}
		n++
	}
	if n > 0 {
		p.log.Info().Str("account", account).Str("what", what).Int("tasks", n).Msg("the halt ended: the tasks it deferred are back in their queues")
	}
}
