package enqueue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Stats is a snapshot of the queues and of halted accounts.
type Stats struct {
	// Queues holds one entry per lane (transactional, then bulk), then any
	// other asynq queue found in the same Redis.
	Queues []QueueStats
	// Halted lists the accounts notifyd halted, by account name.
	Halted []HaltedAccount
	// At is when the snapshot was taken.
	At time.Time
}

// QueueStats is one queue's snapshot.
type QueueStats struct {
	Queue string
	// Size is Pending+Active+Scheduled+Retry+Archived (+aggregating).
	Size                                                   int
	Pending, Active, Scheduled, Retry, Archived, Completed int
	// Processed and Failed count today's (UTC) attempts; Processed includes Failed.
	Processed, Failed int
	// Latency is the age of the oldest pending task.
	Latency time.Duration
	// Paused is true while the queue is paused.
	Paused bool
}

// HaltedAccount is an account whose deliveries notifyd halted after a
// credentials or configuration fault (key lsqd:{account}:halt).
type HaltedAccount struct {
	Account, Reason string
}

// Stats returns the sizes of the lanes' queues by state, today's processed
// and failed counts, latency, and the halted accounts.
func (c *Inspector) Stats(ctx context.Context) (Stats, error) {
	st := Stats{At: now()}
	names, err := inspect(ctx, c.inspector.Queues)
	if err != nil {
		return st, fmt.Errorf("enqueue: stats: list queues: %w", err)
	}
	lanes := []string{string(tasks.LaneTransactional), string(tasks.LaneBulk)}
	for _, n := range names {
		if !slices.Contains(lanes, n) {
			lanes = append(lanes, n)
		}
	}
	for _, q := range lanes {
		qs := QueueStats{Queue: q}
		if slices.Contains(names, q) {
			info, err := inspect(ctx, func() (*asynq.QueueInfo, error) { return c.inspector.GetQueueInfo(q) })
			if err != nil {
				return st, fmt.Errorf("enqueue: stats of queue %s: %w", q, err)
			}
			qs = QueueStats{Queue: q, Size: info.Size, Pending: info.Pending, Active: info.Active,
				Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived,
				Completed: info.Completed, Processed: info.Processed, Failed: info.Failed,
				Latency: info.Latency, Paused: info.Paused}
		}
		st.Queues = append(st.Queues, qs)
	}
	if st.Halted, err = c.halted(ctx); err != nil {
		return st, fmt.Errorf("enqueue: stats: halted accounts: %w", err)
	}
	return st, nil
}

// haltPattern matches keys.Halt of every account.
var haltPattern = keys.Prefix + "{*}:halt"

// halted scans for halt keys, on every master of a Cluster.
func (c *Inspector) halted(ctx context.Context) ([]HaltedAccount, error) {
	var mu sync.Mutex
	var out []HaltedAccount
	scan := func(ctx context.Context, r redis.UniversalClient) error {
		it := r.Scan(ctx, 0, haltPattern, 1000).Iterator()
		var found []string
		for it.Next(ctx) {
			found = append(found, it.Val())
		}
		if err := it.Err(); err != nil {
			return err
		}
		for _, key := range found {
			reason, err := r.Get(ctx, key).Result()
			if err == redis.Nil {
				continue // lifted meanwhile
			}
			if err != nil {
				return err
			}
			acct := strings.TrimSuffix(strings.TrimPrefix(key, keys.Prefix+"{"), "}:halt")
			if keys.Halt(acct) != key {
				continue
			}
			mu.Lock()
			out = append(out, HaltedAccount{Account: acct, Reason: reason})
			mu.Unlock()
		}
		return nil
	}
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, c.rdb)
	}
	slices.SortFunc(out, func(a, b HaltedAccount) int { return strings.Compare(a.Account, b.Account) })
	return out, err
}
