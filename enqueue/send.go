package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// SendOption adjusts one send.
type SendOption func(*sendConfig)

type sendConfig struct {
	ref, account, campaign string
	lane                   tasks.Lane
	at                     time.Time
	in                     time.Duration
	useIn                  bool
	weight                 int
	expires                time.Time
	expiresIn              time.Duration
	useExpiresIn           bool
}

// WithRef sets the notification's ref: its idempotency key, unique per
// account while Redis knows it. Default: a new random UUID.
func WithRef(ref string) SendOption { return func(c *sendConfig) { c.ref = ref } }

// WithAccount names the LeadSquared account that sends it. Default: tasks.DefaultAccount.
func WithAccount(account string) SendOption { return func(c *sendConfig) { c.account = account } }

// Bulk puts it in the bulk lane, behind transactional work. Default: the transactional lane.
func Bulk() SendOption { return func(c *sendConfig) { c.lane = tasks.LaneBulk } }

// At schedules it for t; a t in the past (or zero) means now. The last of At and In wins.
func At(t time.Time) SendOption { return func(c *sendConfig) { c.at, c.useIn = t, false } }

// In schedules it d from now. The last of At and In wins.
func In(d time.Duration) SendOption { return func(c *sendConfig) { c.in, c.useIn = d, true } }

// WithCampaign records the campaign it belongs to (tasks.Meta.Campaign). In
// the bulk lane the campaign is its scheduling group: the account's rate is
// shared between its active campaigns (see WithWeight).
func WithCampaign(name string) SendOption { return func(c *sendConfig) { c.campaign = name } }

// ExpiresAt makes the notification expire at t: a worker that has not
// called LeadSquared by then never does, and records it expired (a reminder
// that would arrive late does harm). A t not after the time it is due is
// refused. The last of ExpiresAt and ExpiresIn wins.
func ExpiresAt(t time.Time) SendOption {
	return func(c *sendConfig) { c.expires, c.useExpiresIn = t, false }
}

// ExpiresIn makes the notification expire d from now, as ExpiresAt.
func ExpiresIn(d time.Duration) SendOption {
	return func(c *sendConfig) { c.expiresIn, c.useExpiresIn = d, true }
}

// WithWeight sets the weight of its campaign (1 to MaxWeight; default 1): the
// campaign's share of its account's rate against the account's other active
// campaigns, as CampaignOptions.Weight. It needs WithCampaign and Bulk.
func WithWeight(n int) SendOption { return func(c *sendConfig) { c.weight = n } }

// Result is the outcome of a send.
type Result struct {
	// Ref and Account identify the notification.
	Ref, Account string
	// Lane and Queue are those of the task that holds the ref: the new task,
	// or for a duplicate the existing one.
	Lane  tasks.Lane
	Queue string
	// TaskID is the asynq task ID, tasks.TaskID(Account, Ref).
	TaskID string
	// Duplicate is true when Redis already knew the ref: nothing was enqueued.
	Duplicate bool
	// State is the task's state: pending or scheduled for a new task; for a
	// duplicate, the existing task's (an asynq state, or StateEnqueuing or
	// StateCompleted).
	State string
	// ProcessAt is when the task is due, when known.
	ProcessAt time.Time
}

// item is one validated notification, ready to enqueue.
type item struct {
	kind   tasks.Kind
	meta   tasks.Meta
	body   []byte // LeadSquared's body, JSON
	at     time.Time
	weight int // the campaign's weight, for a single send (0: leave it)
}

func (it *item) key() string   { return keys.Ref(it.meta.Account, it.meta.Ref) }
func (it *item) id() string    { return tasks.TaskID(it.meta.Account, it.meta.Ref) }
func (it *item) queue() string { return string(it.meta.Lane) }
func (it *item) result() Result {
	return Result{Ref: it.meta.Ref, Account: it.meta.Account, Lane: it.meta.Lane,
		Queue: it.queue(), TaskID: it.id()}
}

// task builds the asynq task; its payload decodes as tasks.SystemPayload or
// tasks.PushPayload.
func (it *item) task() (*asynq.Task, error) {
	meta, err := json.Marshal(it.meta)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	payload := make([]byte, 0, len(meta)+len(it.body)+9)
	payload = append(payload, meta[:len(meta)-1]...)
	payload = append(payload, `,"body":`...)
	payload = append(payload, it.body...)
	payload = append(payload, '}')
	opts := tasks.Options(it.meta)
	if !it.at.IsZero() {
		opts = append(opts, asynq.ProcessAt(it.at))
	}
	return asynq.NewTask(it.kind.TypeName(), payload, opts...), nil
}

// SendSystem validates a Converse system notification and enqueues it.
//
// Invalid input returns a *leadsquared.ValidationError naming every problem
// (body fields by LeadSquared's names, and "ref", "account"), before Redis is
// touched. The ref goes into ExternalSource.ExternalReferenceId unless the
// body has one. A ref Redis already knows is no error: the Result says
// Duplicate and the existing task's State, and nothing is enqueued. Any
// Redis error is returned.
func (c *Client) SendSystem(ctx context.Context, n leadsquared.SystemNotification, opts ...SendOption) (Result, error) {
	cfg, p := sendOptions(opts)
	p.addFrom(n.Validate(), "")
	if err := p.err(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(withRef(n, cfg.ref))
	if err != nil {
		return Result{}, fmt.Errorf("enqueue: encode system notification: %w", err)
	}
	return c.send(ctx, cfg.item(tasks.KindSystem, body))
}

// SendPush validates a push browser notification and enqueues it, like SendSystem.
func (c *Client) SendPush(ctx context.Context, n leadsquared.PushNotification, opts ...SendOption) (Result, error) {
	cfg, p := sendOptions(opts)
	p.addFrom(n.Validate(), "")
	if err := p.err(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(n)
	if err != nil {
		return Result{}, fmt.Errorf("enqueue: encode push notification: %w", err)
	}
	return c.send(ctx, cfg.item(tasks.KindPush, body))
}

func sendOptions(opts []SendOption) (sendConfig, *problems) {
	cfg := sendConfig{account: tasks.DefaultAccount, lane: tasks.LaneTransactional}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ref == "" {
		cfg.ref = uuid.NewString()
	}
	if cfg.useIn {
		cfg.at = now().Add(cfg.in)
	}
	if cfg.useExpiresIn {
		cfg.expires = now().Add(cfg.expiresIn)
	}
	p := &problems{}
	if r := checkRef(cfg.ref); r != "" {
		p.add("ref", "%s", r)
	}
	if r := checkAccount(cfg.account); r != "" {
		p.add("account", "%s", r)
	}
	if r := checkExpiry(cfg.expires, cfg.at); r != "" {
		p.add("expires_at", "%s", r)
	}
	switch {
	case cfg.weight < 0 || cfg.weight > MaxWeight:
		p.add("weight", "%d is not from 1 to %d", cfg.weight, MaxWeight)
	case cfg.weight > 1 && (cfg.campaign == "" || cfg.lane != tasks.LaneBulk):
		p.add("weight", "a weight needs a bulk notification of a campaign (WithCampaign and Bulk)")
	}
	return cfg, p
}

func (cfg sendConfig) item(kind tasks.Kind, body []byte) *item {
	return &item{
		kind: kind,
		meta: tasks.Meta{Ref: cfg.ref, Account: cfg.account, Lane: cfg.lane,
			EnqueuedAt: now().UTC(), Campaign: cfg.campaign, ExpiresAt: expiryOf(cfg.expires)},
		body:   body,
		at:     cfg.at,
		weight: cfg.weight,
	}
}

// send claims the ref, enqueues the task and confirms the claim.
func (c *Client) send(ctx context.Context, it *item) (Result, error) {
	if it.weight > 1 {
		if err := setWeights(ctx, c.rdb, []string{tasks.Group(it.meta.Account, it.meta.Campaign)}, it.weight); err != nil {
			return it.result(), fmt.Errorf("enqueue: %w", err)
		}
	}
	claimed, err := c.claim(ctx, it.key(), it.queue())
	if err != nil {
		return it.result(), fmt.Errorf("enqueue: claim ref %q of account %q in Redis: %w", it.meta.Ref, it.meta.Account, err)
	}
	res, confirm, err := c.place(ctx, c.asynq, it, claimed, true)
	if err != nil || !confirm {
		return res, err
	}
	if err := c.confirm(context.WithoutCancel(ctx), it.key(), res.Queue); err != nil {
		return res, fmt.Errorf("enqueue: task %s was enqueued, but its ref registry entry could not be confirmed: %w", res.TaskID, err)
	}
	return res, nil
}

// maxExamine bounds the rounds of claim and examine when other producers
// race for the same ref.
const maxExamine = 3

// place enqueues an item with aq, given whether its ref is claimed. A failed claim is
// examined and, when stale, taken over. confirm says the registry entry must
// be confirmed (the task was enqueued, or it was already there). wantState
// asks for the state of an existing task on a task ID conflict.
func (c *Client) place(ctx context.Context, aq *asynq.Client, it *item, claimed, wantState bool) (res Result, confirm bool, err error) {
	res = it.result()
	for round := 0; !claimed; round++ {
		if round == maxExamine {
			return res, false, fmt.Errorf("enqueue: ref %q of account %q: other producers keep changing its registry entry; try again", it.meta.Ref, it.meta.Account)
		}
		var h holder
		claimed, h, err = c.examine(ctx, it.key(), it.id(), it.queue())
		if err != nil {
			return res, false, fmt.Errorf("enqueue: ref %q of account %q: %w", it.meta.Ref, it.meta.Account, err)
		}
		if !claimed && h.state != "" {
			res.Duplicate, res.State = true, h.state
			res.Queue, res.Lane = h.queue, tasks.Lane(h.queue)
			if h.info != nil {
				res.ProcessAt = h.info.NextProcessAt
			}
			return res, false, nil
		}
	}
	task, err := it.task()
	if err != nil {
		_ = c.release(context.WithoutCancel(ctx), it.key(), it.queue())
		return res, false, fmt.Errorf("enqueue: %w", err)
	}
	info, err := aq.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) && c.replaceCancelled(ctx, it) {
		info, err = aq.EnqueueContext(ctx, task)
	}
	switch {
	case err == nil:
		res.State, res.ProcessAt = stateName(info.State), info.NextProcessAt
		return res, true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		// The task exists though the registry did not know it: our claim now
		// names it correctly, so keep it.
		res.Duplicate = true
		if wantState {
			if info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(it.queue(), it.id()) }); err == nil {
				res.State, res.ProcessAt = stateName(info.State), info.NextProcessAt
			}
		}
		return res, true, nil
	}
	// The enqueue failed, or its answer was lost (ctx ended, a connection
	// dropped): look before dropping the claim, so that a task that did get in
	// keeps its registry entry. Otherwise don't leave a ghost behind (the
	// lease would end it anyway).
	bg := context.WithoutCancel(ctx)
	if info, gerr := c.inspector.GetTaskInfo(it.queue(), it.id()); gerr == nil {
		res.State, res.ProcessAt = stateName(info.State), info.NextProcessAt
		return res, true, nil
	}
	_ = c.release(bg, it.key(), it.queue())
	return res, false, fmt.Errorf("enqueue: enqueue task %s in queue %s: %w", it.id(), it.queue(), err)
}

// replaceCancelled deletes the completed task that holds the item's task ID
// when its campaign's cancel freed its ref, so that the ref may be used
// again; it reports whether it did.
func (c *Client) replaceCancelled(ctx context.Context, it *item) bool {
	info, err := inspect(ctx, func() (*asynq.TaskInfo, error) { return c.inspector.GetTaskInfo(it.queue(), it.id()) })
	if err != nil || info.State != asynq.TaskStateCompleted {
		return false
	}
	if _, res := result(info.Result); !res.Cancelled {
		return false
	}
	return c.inspector.DeleteTask(it.queue(), it.id()) == nil
}

// checkExpiry says what is wrong with an expiry (zero: none) of a
// notification due at at (zero: now).
func checkExpiry(expires, at time.Time) string {
	if expires.IsZero() {
		return ""
	}
	due := now()
	if at.After(due) {
		due = at
	}
	if !expires.After(due) {
		return fmt.Sprintf("%s is not after the time it is due (%s): it would never be sent",
			expires.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
	}
	return ""
}

func expiryOf(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
