package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// DefaultDeadLetterLimit is how many dead letters DeadLetters returns when
// its limit is 0 or less.
const DefaultDeadLetterLimit = 100

// DeadLetter is an archived task: one that failed for good (a permanent
// LeadSquared error, or every retry spent).
type DeadLetter struct {
	// ID is the asynq task ID, tasks.TaskID(Account, Ref).
	ID    string
	Queue string
	Kind  tasks.Kind
	// Ref, Account and Campaign come from the payload.
	Ref, Account, Campaign string
	// LastError is why the last attempt failed.
	LastError    string
	LastFailedAt time.Time
	// Attempts is the number of failed attempts.
	Attempts int
	// Summary is a one-line summary of the body: "to <ToUser>: <Message>"
	// for a system notification, the title for a push.
	Summary string
	// Dropped is true when asynq dropped the task past its archive cap
	// (10,000 a queue): the worker's record is all that is left (no body,
	// no Summary); it cannot be replayed, and its ref is free.
	Dropped bool
}

// DeadLetters returns up to limit dead letters of every lane, the most
// recently failed first: asynq's archived tasks, and the workers' records
// of those asynq dropped past its archive cap (Dropped).
func (c *Inspector) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = DefaultDeadLetterLimit
	}
	queues, err := c.laneQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("enqueue: dead letters: %w", err)
	}
	var out []DeadLetter
	for _, q := range queues {
		infos, err := inspect(ctx, func() ([]*asynq.TaskInfo, error) {
			return c.inspector.ListArchivedTasks(q, asynq.PageSize(limit), asynq.Page(1))
		})
		if err != nil {
			return nil, fmt.Errorf("enqueue: dead letters of queue %s: %w", q, err)
		}
		for _, info := range infos {
			out = append(out, deadLetter(info))
		}
	}
	recs, err := c.recentRecords(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("enqueue: dead letters' records: %w", err)
	}
	for _, r := range recs {
		if slices.ContainsFunc(out, func(d DeadLetter) bool { return d.ID == r.ID }) {
			continue
		}
		info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(r.Queue, r.ID) })
		switch {
		case err == nil && info.State == asynq.TaskStateArchived:
			out = append(out, deadLetter(info)) // older than asynq's first page
		case err == nil:
			// Running again (replayed in the UI): no longer a dead letter.
		case isNotFound(err):
			out = append(out, fromRecord(r))
		default:
			return nil, fmt.Errorf("enqueue: dead letter %s: %w", r.ID, err)
		}
	}
	slices.SortStableFunc(out, func(a, b DeadLetter) int { return b.LastFailedAt.Compare(a.LastFailedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// laneQueues returns the lanes' queues that exist in Redis.
func (c *Inspector) laneQueues(ctx context.Context) ([]string, error) {
	names, err := inspect(ctx, c.inspector.Queues)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var out []string
	for _, l := range []tasks.Lane{tasks.LaneTransactional, tasks.LaneBulk} {
		if slices.Contains(names, string(l)) {
			out = append(out, string(l))
		}
	}
	return out, nil
}

func deadLetter(info *asynq.TaskInfo) DeadLetter {
	d := DeadLetter{ID: info.ID, Queue: info.Queue, LastError: info.LastErr,
		LastFailedAt: info.LastFailedAt, Attempts: info.Retried}
	d.Kind, _ = tasks.KindOf(info.Type)
	if m, err := tasks.DecodeMeta(info.Payload); err == nil {
		d.Ref, d.Account, d.Campaign = m.Ref, m.Account, m.Campaign
	} else {
		d.Account, d.Ref, _ = strings.Cut(info.ID, ":")
	}
	d.Summary = summary(d.Kind, info.Payload)
	return d
}

func summary(kind tasks.Kind, payload []byte) string {
	switch kind {
	case tasks.KindSystem:
		var p tasks.SystemPayload
		if json.Unmarshal(payload, &p) == nil {
			return truncate("to "+p.Body.ToUser+": "+p.Body.CardContents.Message, 100)
		}
	case tasks.KindPush:
		var p tasks.PushPayload
		if json.Unmarshal(payload, &p) == nil {
			s := p.Body.Title
			if p.Body.UserId != "" {
				s = "to " + p.Body.UserId + ": " + s
			}
			return truncate(s, 100)
		}
	}
	return ""
}

// ReplayDeadLetters moves the given dead letters (asynq task IDs) back to
// pending, each with its whole retry budget (a fresh start: no spent retry,
// no last error), and renews their ref registry entries. It returns how many it
// moved, and every failure joined (an ID that is unknown wraps ErrNotFound;
// one that is not archived wraps ErrNotDeadLetter).
func (c *Inspector) ReplayDeadLetters(ctx context.Context, ids ...string) (int, error) {
	return c.eachDeadLetter(ctx, "replay", ids, c.replay, func(context.Context, string) error { return ErrDropped })
}

// PurgeDeadLetters deletes the given dead letters and their ref registry
// entries, so that their refs may be used again. It returns how many it
// deleted, and every failure joined, as ReplayDeadLetters does.
func (c *Inspector) PurgeDeadLetters(ctx context.Context, ids ...string) (int, error) {
	return c.eachDeadLetter(ctx, "purge", ids, c.purge, c.forgetDeadLetter)
}

// ReplayAllDeadLetters replays every dead letter of every lane.
func (c *Inspector) ReplayAllDeadLetters(ctx context.Context) (int, error) {
	return c.allDeadLetters(ctx, "replay", c.replay)
}

// PurgeAllDeadLetters purges every dead letter of every lane, the records
// of those asynq dropped too.
func (c *Inspector) PurgeAllDeadLetters(ctx context.Context) (int, error) {
	n, err := c.allDeadLetters(ctx, "purge", c.purge)
	if err != nil {
		return n, err
	}
	ids, err := c.droppedIDs(ctx)
	if err != nil {
		return n, fmt.Errorf("enqueue: purge all dead letters: dropped ones: %w", err)
	}
	for _, id := range ids {
		if err := c.forgetDeadLetter(ctx, id); err != nil {
			return n, fmt.Errorf("enqueue: purge all dead letters: %w", err)
		}
		n++
	}
	return n, nil
}

type deadLetterOp func(ctx context.Context, queue, id string) error

func (c *Inspector) replay(ctx context.Context, queue, id string) error {
	if err := c.resetRetries(ctx, queue, id); err != nil {
		return err
	}
	if _, err := inspect(ctx, func() (struct{}, error) { return struct{}{}, c.inspector.RunTask(queue, id) }); err != nil {
		return fmt.Errorf("run task %s of queue %s: %w", id, queue, err)
	}
	account, ref, _ := strings.Cut(id, ":")
	if err := c.rdb.Set(ctx, keys.Ref(account, ref), queue, 0).Err(); err != nil {
		return fmt.Errorf("task %s replayed, but its ref registry entry was not renewed: %w", id, err)
	}
	return c.forgetDeadLetter(ctx, id) // a fresh start; failing again writes a new record
}

func (c *Inspector) purge(ctx context.Context, queue, id string) error {
	if _, err := inspect(ctx, func() (struct{}, error) { return struct{}{}, c.inspector.DeleteTask(queue, id) }); err != nil {
		return fmt.Errorf("delete task %s of queue %s: %w", id, queue, err)
	}
	account, ref, _ := strings.Cut(id, ":")
	if err := c.release(ctx, keys.Ref(account, ref), queue); err != nil {
		return fmt.Errorf("task %s deleted, but its ref registry entry was not: %w", id, err)
	}
	return c.forgetDeadLetter(ctx, id)
}

// eachDeadLetter applies op to the given dead letters, and onDropped to
// those asynq dropped (only their record is left).
func (c *Inspector) eachDeadLetter(ctx context.Context, verb string, ids []string, op deadLetterOp,
	onDropped func(ctx context.Context, id string) error) (int, error) {
	var errs []error
	n := 0
	for _, id := range ids {
		queue, err := c.locateDeadLetter(ctx, id)
		switch {
		case errors.Is(err, ErrDropped):
			err = onDropped(ctx, id)
		case err == nil:
			err = op(ctx, queue, id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("enqueue: %s dead letter %q: %w", verb, id, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// locateDeadLetter finds the queue of an archived task by its ID.
func (c *Inspector) locateDeadLetter(ctx context.Context, id string) (string, error) {
	account, ref, ok := strings.Cut(id, ":")
	if !ok || checkAccount(account) != "" || checkRef(ref) != "" {
		return "", fmt.Errorf("%w: %q is not a task ID (account:ref)", ErrNotFound, id)
	}
	st, err := c.find(ctx, account, ref)
	if err != nil {
		return "", err
	}
	if st.State != asynq.TaskStateArchived.String() {
		return "", fmt.Errorf("%w: it is %s", ErrNotDeadLetter, st.State)
	}
	if st.Dropped {
		return st.Queue, ErrDropped
	}
	return st.Queue, nil
}

// deadLetterPage is how many dead letters allDeadLetters reads at a time.
const deadLetterPage = 500

// allDeadLetters applies op to every archived task of every lane, at most as
// many as there were when it started, so that tasks archived meanwhile (or
// failing again at once after a replay) don't keep it going.
func (c *Inspector) allDeadLetters(ctx context.Context, verb string, op deadLetterOp) (int, error) {
	queues, err := c.laneQueues(ctx)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %s all dead letters: %w", verb, err)
	}
	n := 0
	for _, q := range queues {
		info, err := inspect(ctx, func() (*asynq.QueueInfo, error) { return c.inspector.GetQueueInfo(q) })
		if err != nil {
			return n, fmt.Errorf("enqueue: %s all dead letters: queue %s: %w", verb, q, err)
		}
		left := info.Archived
		for left > 0 {
			page, err := inspect(ctx, func() ([]*asynq.TaskInfo, error) {
				return c.inspector.ListArchivedTasks(q, asynq.PageSize(min(left, deadLetterPage)), asynq.Page(1))
			})
			if err != nil {
				return n, fmt.Errorf("enqueue: %s all dead letters: list queue %s: %w", verb, q, err)
			}
			if len(page) == 0 {
				break
			}
			for _, t := range page {
				if err := op(ctx, q, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					return n, fmt.Errorf("enqueue: %s all dead letters: %w", verb, err)
				} else if err == nil {
					n++
				}
				left--
			}
		}
	}
	return n, nil
}
