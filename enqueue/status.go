package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// StatusInfo is what Redis knows about one notification.
type StatusInfo struct {
	// Ref, Account and TaskID identify it.
	Ref, Account, TaskID string
	// Kind is system or push ("" when the task is gone).
	Kind tasks.Kind
	// Lane and Queue are where its task is.
	Lane  tasks.Lane
	Queue string
	// State is pending, scheduled, active, retry, archived or completed, as
	// asynq says, or StateExpired for a task completed without a call
	// because its expiry passed. When asynq no longer holds the task but its ref is still
	// kept, it is StateEnqueuing, StateCompleted or archived, from the TTL of
	// the ref's registry entry.
	State string
	// Attempts is the number of failed attempts so far; MaxRetry is how many
	// are allowed before the task is archived (dead-lettered).
	Attempts, MaxRetry int
	// LastError and LastFailedAt describe the last failed attempt, if any.
	LastError    string
	LastFailedAt time.Time
	// ExpiresAt is the notification's expiry, if it has one.
	ExpiresAt *time.Time
	// MessageID is LeadSquared's MessageID once a system notification is
	// delivered (Result.MessageID, or the task's result as it is when it is
	// not a tasks.Result).
	MessageID string
	// Result is the worker's record of the delivery, zero before.
	Result tasks.Result
	// NextProcessAt is when the task is due next (zero when not waiting).
	NextProcessAt time.Time
	// CompletedAt is when it was delivered (zero before).
	CompletedAt time.Time
	// EnqueuedAt and Campaign come from the payload's tasks.Meta.
	EnqueuedAt time.Time
	Campaign   string
	// Payload is the task's payload, JSON of a tasks.SystemPayload or a
	// tasks.PushPayload (nil when the task is gone).
	Payload []byte
	// Dropped is true for a dead letter asynq dropped past its archive cap
	// (10,000 a queue): State is archived, LastError and LastFailedAt come
	// from the worker's record, the body is gone and the ref is free.
	Dropped bool
}

// Status returns what Redis knows about a notification, or an error wrapping
// ErrNotFound when it knows nothing of the ref.
func (c *Client) Status(ctx context.Context, account, ref string) (StatusInfo, error) {
	if err := checkID(account, ref); err != nil {
		return StatusInfo{}, err
	}
	st, err := c.find(ctx, account, ref)
	if err != nil {
		return st, fmt.Errorf("enqueue: status of ref %q of account %q: %w", ref, account, err)
	}
	return st, nil
}

// Cancel drops a notification that is not sent yet: it deletes its task
// (pending, scheduled, retry or archived) and its ref registry entry, so the
// ref may be used again. It returns an error wrapping ErrActive when the
// notification is being sent now, ErrCompleted when it was sent, and
// ErrNotFound when Redis does not know the ref. The state is read, then the
// task deleted: asynq refuses to delete a task a worker took meanwhile
// (ErrActive), but one that a worker finished in that instant is deleted and
// reported as cancelled, though it was sent.
func (c *Inspector) Cancel(ctx context.Context, account, ref string) error {
	if err := checkID(account, ref); err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("enqueue: cancel ref %q of account %q: %w", ref, account, err)
	}
	st, err := c.find(ctx, account, ref)
	if err != nil {
		return fail(err)
	}
	switch st.State {
	case asynq.TaskStateActive.String():
		return fail(fmt.Errorf("%w: a worker is delivering it; it cannot be cancelled", ErrActive))
	case StateCompleted:
		return fail(ErrCompleted)
	case StateEnqueuing:
		return fail(fmt.Errorf("another producer is enqueuing it right now; try again"))
	}
	if st.Payload == nil {
		// Archived, then deleted from asynq: only the ref (and the record)
		// is left to free.
		if err := c.release(ctx, keys.Ref(account, ref), st.Queue); err != nil {
			return fail(fmt.Errorf("delete its ref registry entry: %w", err))
		}
		return c.forgetDeadLetter(ctx, st.TaskID)
	}
	_, err = inspect(ctx, func() (struct{}, error) { return struct{}{}, c.inspector.DeleteTask(st.Queue, st.TaskID) })
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return fail(fmt.Errorf("%w: its task went away while cancelling", ErrNotFound))
	case err != nil:
		// DeleteTask refuses an active task; it may have started just now.
		if again, ferr := c.find(ctx, account, ref); ferr == nil && again.State == asynq.TaskStateActive.String() {
			return fail(fmt.Errorf("%w: a worker is delivering it; it cannot be cancelled", ErrActive))
		}
		return fail(fmt.Errorf("delete task %s from queue %s: %w", st.TaskID, st.Queue, err))
	}
	if err := c.release(ctx, keys.Ref(account, ref), st.Queue); err != nil {
		return fail(fmt.Errorf("task deleted, but its ref registry entry was not: %w", err))
	}
	if st.State == asynq.TaskStateArchived.String() {
		return c.forgetDeadLetter(ctx, st.TaskID)
	}
	return nil
}

func checkID(account, ref string) error {
	p := &problems{}
	if r := checkRef(ref); r != "" {
		p.add("ref", "%s", r)
	}
	if r := checkAccount(account); r != "" {
		p.add("account", "%s", r)
	}
	return p.err()
}

// find looks for a ref's task in the queue its registry entry names, then in
// every lane's queue.
func (c *core) find(ctx context.Context, account, ref string) (StatusInfo, error) {
	st := StatusInfo{Ref: ref, Account: account, TaskID: tasks.TaskID(account, ref)}
	key := keys.Ref(account, ref)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, fmt.Errorf("read ref registry entry: %w", err)
	}
	entry := get.Val()
	queues := []string{string(tasks.LaneTransactional), string(tasks.LaneBulk)}
	if entry != "" {
		queues = append([]string{entry}, queues...)
	}
	seen := map[string]bool{}
	for _, q := range queues {
		if seen[q] {
			continue
		}
		seen[q] = true
		info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(q, st.TaskID) })
		switch {
		case err == nil:
			fill(&st, info)
			return st, nil
		case !isNotFound(err):
			return st, fmt.Errorf("look up task %s in queue %s: %w", st.TaskID, q, err)
		}
	}
	if dl, err := c.deadLetterRecord(ctx, st.TaskID); err != nil {
		return st, err
	} else if dl != nil {
		// A dead letter asynq dropped past its archive cap: its record.
		st.Queue, st.Lane, st.Kind, st.State, st.Dropped = dl.Queue, tasks.Lane(dl.Queue), dl.Kind, asynq.TaskStateArchived.String(), true
		st.Attempts, st.LastError, st.LastFailedAt, st.Campaign = dl.Attempts, dl.Reason, dl.FailedAt, dl.Campaign
		return st, nil
	}
	if entry != "" {
		st.Queue, st.Lane = entry, tasks.Lane(entry)
		if st.State = goneState(pttl.Val()); st.State != "" {
			return st, nil
		}
	}
	return st, ErrNotFound
}

func fill(st *StatusInfo, info *asynq.TaskInfo) {
	st.Queue, st.Lane = info.Queue, tasks.Lane(info.Queue)
	st.Kind, _ = tasks.KindOf(info.Type)
	st.State = stateName(info.State)
	st.Attempts, st.MaxRetry = info.Retried, info.MaxRetry
	st.LastError, st.LastFailedAt = info.LastErr, info.LastFailedAt
	st.MessageID, st.Result = result(info.Result)
	switch {
	case st.Result.Expired:
		st.State = StateExpired
	case st.Result.Cancelled:
		st.State = StateCancelled
	}
	st.NextProcessAt, st.CompletedAt = info.NextProcessAt, info.CompletedAt
	st.Payload = info.Payload
	if m, err := tasks.DecodeMeta(info.Payload); err == nil {
		st.EnqueuedAt, st.Campaign, st.ExpiresAt = m.EnqueuedAt, m.Campaign, m.ExpiresAt
	}
}

// result reads a task's result, a tasks.Result as the worker writes it.
func result(raw []byte) (string, tasks.Result) {
	var r tasks.Result
	if len(raw) == 0 {
		return "", r
	}
	if json.Unmarshal(raw, &r) != nil {
		return string(raw), tasks.Result{}
	}
	return r.MessageID, r
}

// stateName is the name of an asynq task state as this package reports it.
// A bulk task waiting in its group for the dispatch scheduler (asynq's
// "aggregating") is pending: queued, its turn not yet come.
func stateName(s asynq.TaskState) string {
	if s == asynq.TaskStateAggregating {
		return asynq.TaskStatePending.String()
	}
	return s.String()
}
