package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// The workers keep a record (tasks.DeadLetter) of every dead letter beside
// asynq's archive, which keeps at most 10,000 tasks a queue and drops the
// oldest past that. A dead letter whose task asynq dropped is listed from
// its record, Dropped: its body is gone, so it cannot be replayed; its ref
// was freed (by the workers' sweep) so that it can be sent again from its
// source; purging it removes the record.

// ErrDropped means asynq dropped the dead letter's task past its archive
// cap: only its record is left.
var ErrDropped = errors.New("asynq dropped the task past its archive cap (10,000 a queue): its body is gone; send it again from its source, then purge the record")

// deadLetterRecord returns the worker's record of a dead letter, or nil.
func (c *core) deadLetterRecord(ctx context.Context, id string) (*tasks.DeadLetter, error) {
	s, err := c.rdb.HGet(ctx, keys.DeadLetters, id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the dead letter's record: %w", err)
	}
	var dl tasks.DeadLetter
	if err := json.Unmarshal([]byte(s), &dl); err != nil {
		return nil, nil
	}
	return &dl, nil
}

// recentRecords returns up to limit records, the most recent first.
func (c *core) recentRecords(ctx context.Context, limit int) ([]tasks.DeadLetter, error) {
	ids, err := c.rdb.ZRevRange(ctx, keys.DeadLetterIndex, 0, int64(limit)-1).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	raw, err := c.rdb.HMGet(ctx, keys.DeadLetters, ids...).Result()
	if err != nil {
		return nil, err
	}
	var out []tasks.DeadLetter
	for _, r := range raw {
		var dl tasks.DeadLetter
		if s, _ := r.(string); s != "" && json.Unmarshal([]byte(s), &dl) == nil {
			out = append(out, dl)
		}
	}
	return out, nil
}

// forgetDeadLetter removes a dead letter's record, once it is replayed,
// purged or cancelled.
func (c *core) forgetDeadLetter(ctx context.Context, id string) error {
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, keys.DeadLetters, id)
		p.ZRem(ctx, keys.DeadLetterIndex, id)
		p.ZRem(ctx, keys.DeadLettersDropped, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove the dead letter's record: %w", err)
	}
	return nil
}

// DroppedDeadLetters counts the dead letters asynq dropped past its archive
// cap whose records are kept (within tasks.ArchivedRetention).
func (c *Inspector) DroppedDeadLetters(ctx context.Context) (int, error) {
	n, err := c.rdb.ZCard(ctx, keys.DeadLettersDropped).Result()
	if err != nil {
		return 0, fmt.Errorf("enqueue: count dropped dead letters: %w", err)
	}
	return int(n), nil
}

// droppedIDs returns the IDs of the dropped dead letters.
func (c *core) droppedIDs(ctx context.Context) ([]string, error) {
	return c.rdb.ZRange(ctx, keys.DeadLettersDropped, 0, -1).Result()
}

func fromRecord(dl tasks.DeadLetter) DeadLetter {
	return DeadLetter{ID: dl.ID, Queue: dl.Queue, Kind: dl.Kind, Ref: dl.Ref, Account: dl.Account,
		Campaign: dl.Campaign, LastError: dl.Reason, LastFailedAt: dl.FailedAt, Attempts: dl.Attempts, Dropped: true}
}
