// Package campaign is the campaign registry in Redis: each campaign of an
// account is a hash (keys.Campaign) with its state and counts, listed in
// one index, and changed only by the scripts of this package, which also
// append the matching events (internal/events) and stop or restart the
// campaign's group in the dispatch scheduler. The producer registers and
// counts (enqueue), workers record outcomes (worker), operators pause,
// resume and cancel (enqueue.Inspector, notifyctl, notifyd's campaigns page).
package campaign

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// State is a campaign's state.
type State string

// The states. Running and paused campaigns are live: their name is taken in
// their account.
const (
	Running   State = "running"
	Paused    State = "paused"
	Cancelled State = "cancelled"
	Done      State = "done"
)

// Live reports whether the campaign may still send.
func (s State) Live() bool { return s == Running || s == Paused }

// Retention is how long an ended campaign's record is kept.
const Retention = 7 * 24 * time.Hour

// Errors a caller can test for with errors.Is.
var (
	// ErrExists: a campaign of that name is running or paused in the account.
	ErrExists = errors.New("a campaign of that name is running")
	// ErrNotFound: no campaign of that name is known in the account.
	ErrNotFound = errors.New("no such campaign")
)

// Registry reads and writes campaigns through one Redis connection.
type Registry struct {
	rdb redis.Cmdable
	// MaxLen caps the event stream (events.DefaultMaxLen when 0).
	MaxLen int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// New returns a Registry on rdb; maxLen caps the event stream (0: the default).
func New(rdb redis.Cmdable, maxLen int64) *Registry { return &Registry{rdb: rdb, MaxLen: maxLen} }

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registry) maxLen() int64 {
	if r.MaxLen > 0 {
		return r.MaxLen
	}
	return events.DefaultMaxLen
}

func (r *Registry) event(t tasks.EventType, account, name, reason string) string {
	return events.Encode(tasks.Event{Type: t, At: r.now(), Account: account, Campaign: name, Reason: reason})
}

func retentionMillis() int64 { return Retention.Milliseconds() }

// Start registers a run of the campaign name in account with its weight,
// and appends campaign_started. It fails with ErrExists when one of that
// name is running or paused; an ended one of that name is replaced.
func (r *Registry) Start(ctx context.Context, account, name string, weight int) error {
	g := tasks.Group(account, name)
	res, err := startScript.Run(ctx, r.rdb,
		[]string{keys.Campaign(g), keys.Campaigns, keys.DispatchStopped, keys.DispatchKnown, keys.Events},
		account, name, g, max(weight, 1), r.now().UnixMilli(),
		r.event(tasks.EventCampaignStarted, account, name, ""), r.maxLen()).Result()
	if err != nil {
		return fmt.Errorf("register campaign %q of account %q: %w", name, account, err)
	}
	if st, ok := res.(string); ok {
		return fmt.Errorf("%w: campaign %q of account %q is %s: choose another name, or cancel it first",
			ErrExists, name, account, st)
	}
	return nil
}

// Add counts n more tasks the producer enqueued; seal says it enqueued its
// last line. It returns the campaign's state: a producer stops when it is
// cancelled.
func (r *Registry) Add(ctx context.Context, account, name string, n int, seal bool) (State, error) {
	g := tasks.Group(account, name)
	sealArg := "0"
	if seal {
		sealArg = "1"
	}
	st, err := addScript.Run(ctx, r.rdb, []string{keys.Campaign(g), keys.Events},
		n, sealArg, r.now().UnixMilli(), r.event(tasks.EventCampaignCompleted, account, name, ""),
		r.maxLen(), retentionMillis()).Text()
	if err != nil {
		return "", fmt.Errorf("count the tasks of campaign %q of account %q: %w", name, account, err)
	}
	return State(st), nil
}

// Outcome is a notification's final outcome (or its first failure), as a
// worker records it.
type Outcome struct {
	// Count is the count it raises: "delivered", "dead_lettered", "expired",
	// "cancelled", or "retrying" for a first failure (no event).
	Count string
	// Failed says the notification had failed before (it leaves retrying).
	Failed bool
	// Unconfirmed says LeadSquared's answer did not confirm the delivery.
	Unconfirmed bool
	// Event is appended to the stream (not for "retrying").
	Event tasks.Event
}

// Record counts o in its campaign (o.Event.Campaign; none: only the event
// is appended), appends its event and completes the campaign when it was
// its last notification.
func (r *Registry) Record(ctx context.Context, o Outcome) error {
	ev := o.Event
	if ev.Campaign == "" {
		if o.Count == "retrying" {
			return nil
		}
		return events.Append(ctx, r.rdb, r.maxLen(), ev)
	}
	g := tasks.Group(ev.Account, ev.Campaign)
	err := outcomeScript.Run(ctx, r.rdb, []string{keys.Campaign(g), keys.Events},
		o.Count, flag(o.Failed), flag(o.Unconfirmed), events.Encode(ev), r.now().UnixMilli(),
		r.event(tasks.EventCampaignCompleted, ev.Account, ev.Campaign, ""), r.maxLen(), retentionMillis()).Err()
	if err != nil {
		return fmt.Errorf("record the %s outcome of ref %q: %w", o.Count, ev.Ref, err)
	}
	return nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Transitions a campaign can be asked for.
const (
	OpPause  = "pause"
	OpResume = "resume"
	OpCancel = "cancel"
)

var opEvents = map[string]tasks.EventType{
	OpPause: tasks.EventCampaignPaused, OpResume: tasks.EventCampaignResumed, OpCancel: tasks.EventCampaignCancelled,
}

// Change pauses, resumes or cancels the campaign (op is OpPause, OpResume or
// OpCancel). It returns the state after, and whether it changed: pausing a
// paused campaign changes nothing. It fails with ErrNotFound for an unknown
// campaign.
func (r *Registry) Change(ctx context.Context, account, name, op, reason string) (State, bool, error) {
	g := tasks.Group(account, name)
	res, err := stateScript.Run(ctx, r.rdb,
		[]string{keys.Campaign(g), keys.DispatchStopped, keys.DispatchGroupsPrefix + account, keys.DispatchKnown, keys.Events},
		g, account, op, r.event(opEvents[op], account, name, reason), r.maxLen()).Slice()
	if err != nil {
		return "", false, fmt.Errorf("%s campaign %q of account %q: %w", op, name, account, err)
	}
	changed, _ := res[0].(int64)
	st, _ := res[1].(string)
	if st == "" {
		return "", false, fmt.Errorf("%w: campaign %q of account %q (notifyctl campaign list shows the known ones)", ErrNotFound, name, account)
	}
	return State(st), changed == 1, nil
}

// asynq's key layout of the bulk queue (asynq v0.26.0, internal/base).
const (
	asynqTaskPrefix = "asynq:{" + string(tasks.LaneBulk) + "}:t:"
	asynqGroups     = "asynq:{" + string(tasks.LaneBulk) + "}:groups"
)

// AsynqGroupKey is asynq's sorted set of a group's aggregating tasks.
func AsynqGroupKey(group string) string { return "asynq:{" + string(tasks.LaneBulk) + "}:g:" + group }

// Dropped is a notification of a cancelled campaign to record as cancelled.
type Dropped struct {
	// ID is the asynq task ID; Ref and Kind are the notification's.
	ID, Ref string
	Kind    tasks.Kind
	// Failed says the notification had failed before (it leaves retrying).
	Failed bool
}

// CancelGrouped takes the given tasks out of the cancelled campaign's asynq
// group, deleting them, and records each as cancelled (count and event). It
// returns the IDs it took: a task no longer in the group (released since)
// is left to whoever holds it.
func (r *Registry) CancelGrouped(ctx context.Context, account, name string, cs []Dropped) ([]string, error) {
	return r.cancel(ctx, account, name, "group", cs)
}

// CancelDeleted records tasks the caller deleted from asynq as cancelled.
func (r *Registry) CancelDeleted(ctx context.Context, account, name string, cs []Dropped) error {
	_, err := r.cancel(ctx, account, name, "deleted", cs)
	return err
}

func (r *Registry) cancel(ctx context.Context, account, name, mode string, cs []Dropped) ([]string, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	g := tasks.Group(account, name)
	args := []any{r.now().UnixMilli(), "", r.maxLen(), mode, asynqTaskPrefix, g, retentionMillis()}
	for _, c := range cs {
		ev := tasks.Event{Type: tasks.EventCancelled, At: r.now(), Account: account, Campaign: name,
			Ref: c.Ref, Kind: c.Kind, Reason: "campaign cancelled"}
		args = append(args, c.ID, flag(c.Failed), events.Encode(ev))
	}
	ids, err := cancelScript.Run(ctx, r.rdb,
		[]string{keys.Campaign(g), keys.Events, AsynqGroupKey(g), asynqGroups}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("record %d cancelled notifications of campaign %q: %w", len(cs), name, err)
	}
	return ids, nil
}

// Record is a campaign as its hash holds it.
type Record struct {
	Account, Name string
	State         State
	Weight        int
	StartedAt     time.Time
	// EndedAt is zero while the campaign is live or still counting.
	EndedAt time.Time
	// Sealed: its producer enqueued its last line.
	Sealed bool

	// The counts (see enqueue.CampaignCounts).
	Total, Delivered, Unconfirmed, DeadLettered, Expired, Cancelled, Retrying int
}

// Pending is what is neither final nor retrying: waiting, or in flight.
func (c Record) Pending() int {
	return max(c.Total-c.Delivered-c.DeadLettered-c.Expired-c.Cancelled-c.Retrying, 0)
}

// Get returns the campaign's record, or ErrNotFound.
func (r *Registry) Get(ctx context.Context, account, name string) (Record, error) {
	m, err := r.rdb.HGetAll(ctx, keys.Campaign(tasks.Group(account, name))).Result()
	if err != nil {
		return Record{}, fmt.Errorf("read campaign %q of account %q: %w", name, account, err)
	}
	if len(m) == 0 {
		return Record{}, fmt.Errorf("%w: campaign %q of account %q (notifyctl campaign list shows the known ones)", ErrNotFound, name, account)
	}
	return recordOf(m), nil
}

// List returns every campaign the index holds (account "": of every
// account), newest first, and drops the index entries of records gone.
func (r *Registry) List(ctx context.Context, account string) ([]Record, error) {
	groups, err := r.rdb.ZRevRange(ctx, keys.Campaigns, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	var pick []string
	for _, g := range groups {
		if account == "" || tasks.GroupAccount(g) == account {
			pick = append(pick, g)
		}
	}
	cmds := make([]*redis.MapStringStringCmd, len(pick))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range pick {
			cmds[i] = p.HGetAll(ctx, keys.Campaign(g))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	var out []Record
	var gone []any
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			gone = append(gone, pick[i])
			continue
		}
		out = append(out, recordOf(c.Val()))
	}
	if len(gone) > 0 {
		_ = r.rdb.ZRem(ctx, keys.Campaigns, gone...).Err()
	}
	return out, nil
}

func recordOf(m map[string]string) Record {
	n := func(f string) int { v, _ := strconv.Atoi(m[f]); return v }
	ms := func(f string) time.Time {
		v, err := strconv.ParseInt(m[f], 10, 64)
		if err != nil || v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(v).UTC()
	}
	return Record{Account: m["account"], Name: m["name"], State: State(m["state"]), Weight: max(n("weight"), 1),
		StartedAt: ms("started_ms"), EndedAt: ms("ended_ms"), Sealed: m["sealed"] == "1",
		Total: n("total"), Delivered: n("delivered"), Unconfirmed: n("unconfirmed"), DeadLettered: n("dead_lettered"),
		Expired: n("expired"), Cancelled: n("cancelled"), Retrying: n("retrying")}
}

// StateOf returns the state of the campaign of group ("": unknown), for a
// worker's check before a call.
func (r *Registry) StateOf(ctx context.Context, group string) (State, error) {
	s, err := r.rdb.HGet(ctx, keys.Campaign(group), "state").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return State(s), err
}
