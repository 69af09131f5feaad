package enqueue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Campaign states (CampaignInfo.State).
const (
	// CampaignRunning: its notifications are sent at its share of the account's rate.
	CampaignRunning = string(campaign.Running)
	// CampaignPaused: no worker starts a call for it until it is resumed.
	CampaignPaused = string(campaign.Paused)
	// CampaignCancelled: what was not sent when it was cancelled never will be.
	CampaignCancelled = string(campaign.Cancelled)
	// CampaignDone: every notification of it reached a final outcome.
	CampaignDone = string(campaign.Done)
)

// Errors of the campaign verbs, for errors.Is.
var (
	// ErrCampaignNotFound: no campaign of that name is known in the account.
	ErrCampaignNotFound = campaign.ErrNotFound
	// ErrCampaignExists: a campaign of that name is running or paused in the account.
	ErrCampaignExists = campaign.ErrExists
	// ErrCampaignEnded: the campaign is done or cancelled, so it cannot be
	// paused or resumed (a done one cannot be cancelled either).
	ErrCampaignEnded = errors.New("ended")
	// ErrCampaignCancelled: the campaign was cancelled while it was being enqueued.
	ErrCampaignCancelled = errors.New("campaign cancelled")
)

// CampaignCounts counts a campaign's notifications by what became of them.
// Total is the sum of the others but Unconfirmed, a part of Delivered.
type CampaignCounts struct {
	Total int `json:"total"`
	// Pending are waiting for their turn or in flight.
	Pending   int `json:"pending"`
	Delivered int `json:"delivered"`
	// Unconfirmed counts the deliveries LeadSquared's answer did not confirm.
	Unconfirmed int `json:"unconfirmed"`
	// Retrying have failed at least once and will be tried again.
	Retrying     int `json:"retrying"`
	DeadLettered int `json:"dead_lettered"`
	Expired      int `json:"expired"`
	Cancelled    int `json:"cancelled"`
}

// CampaignInfo is a campaign of an account as the registry holds it.
type CampaignInfo struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// State is CampaignRunning, CampaignPaused, CampaignCancelled or CampaignDone.
	State  string `json:"state"`
	Weight int    `json:"weight"`
	// Enqueuing is true while its producer is still enqueuing lines.
	Enqueuing bool           `json:"enqueuing"`
	Counts    CampaignCounts `json:"counts"`
	// RatePerSecond is the calls a second it gets now: the account's pace
	// times Share, its weight over those of the account's groups with work.
	RatePerSecond float64 `json:"rate_per_second"`
	Share         float64 `json:"share"`
	// ETA is how long what is pending and retrying takes at RatePerSecond
	// (0 when it is not running or has nothing left).
	ETA       time.Duration `json:"-"`
	StartedAt time.Time     `json:"started_at"`
	// EndedAt is when it ended (zero while it runs).
	EndedAt time.Time `json:"ended_at,omitzero"`
}

// Ended reports whether the campaign is done or cancelled.
func (c CampaignInfo) Ended() bool { return c.State == CampaignDone || c.State == CampaignCancelled }

func (c *core) registry() *campaign.Registry { return campaign.New(c.rdb, c.eventsMaxLen) }

// Campaigns lists the campaigns of account ("": of every account), newest
// first, with their counts, rate and ETA. Ended campaigns are kept 7 days.
func (i *Inspector) Campaigns(ctx context.Context, account string) ([]CampaignInfo, error) {
	reg := i.registry()
	recs, err := reg.List(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	out := make([]CampaignInfo, 0, len(recs))
	for _, r := range recs {
		info, err := infoOf(ctx, reg, r)
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// CampaignStatus returns the campaign name of account ("": the default
// account), or an error wrapping ErrCampaignNotFound.
func (i *Inspector) CampaignStatus(ctx context.Context, account, name string) (CampaignInfo, error) {
	reg := i.registry()
	r, err := reg.Get(ctx, cmpOr(account, tasks.DefaultAccount), name)
	if err != nil {
		return CampaignInfo{}, fmt.Errorf("enqueue: %w", err)
	}
	return infoOf(ctx, reg, r)
}

// PauseCampaign pauses a running campaign: within a second no worker of
// any process starts a call for it (calls in flight finish), and its share
// of the account's rate goes to the account's other work. Pausing a paused
// campaign changes nothing; an ended one is an error.
func (i *Inspector) PauseCampaign(ctx context.Context, account, name string) (CampaignInfo, error) {
	return i.change(ctx, account, name, campaign.OpPause)
}

// ResumeCampaign resumes a paused campaign: its calls start again within
// about a second. Resuming a running campaign changes nothing.
func (i *Inspector) ResumeCampaign(ctx context.Context, account, name string) (CampaignInfo, error) {
	return i.change(ctx, account, name, campaign.OpResume)
}

// CancelCampaign cancels a running or paused campaign: within a second no
// worker starts a call for it (calls in flight finish); every notification
// of it not yet sent is recorded cancelled (count and event) and its ref is
// freed, so that a corrected campaign may use the same refs. Cancelling a
// cancelled campaign records what is left again.
func (i *Inspector) CancelCampaign(ctx context.Context, account, name string) (CampaignInfo, error) {
	account = cmpOr(account, tasks.DefaultAccount)
	info, err := i.change(ctx, account, name, campaign.OpCancel)
	if err != nil {
		return info, err
	}
	if err := i.sweep(ctx, account, name); err != nil {
		return info, err
	}
	return i.CampaignStatus(ctx, account, name)
}

// opTargets is the state each transition leads to: asking for the state a
// campaign is already in changes nothing and is no error.
var opTargets = map[string]campaign.State{campaign.OpPause: campaign.Paused,
	campaign.OpResume: campaign.Running, campaign.OpCancel: campaign.Cancelled}

func (i *Inspector) change(ctx context.Context, account, name, op string) (CampaignInfo, error) {
	account = cmpOr(account, tasks.DefaultAccount)
	reg := i.registry()
	st, changed, err := reg.Change(ctx, account, name, op, "")
	if err != nil {
		return CampaignInfo{}, fmt.Errorf("enqueue: %w", err)
	}
	info, ierr := i.CampaignStatus(ctx, account, name)
	if ierr != nil {
		return info, ierr
	}
	if !changed && st != opTargets[op] {
		return info, fmt.Errorf("enqueue: %w: campaign %q of account %q is %s: it cannot %s", ErrCampaignEnded, name, account, st, op)
	}
	return info, nil
}

func infoOf(ctx context.Context, reg *campaign.Registry, r campaign.Record) (CampaignInfo, error) {
	info := CampaignInfo{Account: r.Account, Name: r.Name, State: string(r.State), Weight: r.Weight,
		Enqueuing: !r.Sealed && r.State.Live(), StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		Counts: CampaignCounts{Total: r.Total, Pending: r.Pending(), Delivered: r.Delivered, Unconfirmed: r.Unconfirmed,
			Retrying: r.Retrying, DeadLettered: r.DeadLettered, Expired: r.Expired, Cancelled: r.Cancelled}}
	if r.State != campaign.Running {
		return info, nil
	}
	rate, err := reg.RateOf(ctx, r)
	if err != nil {
		return info, fmt.Errorf("enqueue: %w", err)
	}
	info.RatePerSecond, info.Share = rate.PerSecond(), rate.Share
	if left := r.Pending() + r.Retrying; left > 0 && info.RatePerSecond > 0 {
		info.ETA = time.Duration(math.Ceil(float64(left)/info.RatePerSecond)) * time.Second
	}
	return info, nil
}

// sweepPage is how many tasks one round of a cancel's sweep takes.
const sweepPage = 500

// sweep records as cancelled, and deletes, every task of the cancelled
// campaign asynq holds but is not running: those waiting in its group, then
// those released, retrying or scheduled. Workers record the running ones.
func (c *core) sweep(ctx context.Context, account, name string) error {
	reg, g := c.registry(), tasks.Group(account, name)
	for {
		infos, err := inspect(ctx, func() ([]*asynq.TaskInfo, error) {
			return c.inspector.ListAggregatingTasks(string(tasks.LaneBulk), g, asynq.PageSize(sweepPage))
		})
		if errors.Is(err, asynq.ErrQueueNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("enqueue: cancel campaign %q: list its waiting tasks: %w", name, err)
		}
		if len(infos) == 0 {
			break
		}
		ids, err := reg.CancelGrouped(ctx, account, name, dropsOf(infos))
		if err != nil {
			return fmt.Errorf("enqueue: cancel campaign %q: %w", name, err)
		}
		if err := c.freeRefs(ctx, account, infos, ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			break // every listed task left the group meanwhile: the next round lists none
		}
	}
	return c.sweepReleased(ctx, reg, account, name)
}

// sweepReleased deletes the campaign's pending, retry and scheduled tasks
// and records them as cancelled.
func (c *core) sweepReleased(ctx context.Context, reg *campaign.Registry, account, name string) error {
	var found []*asynq.TaskInfo
	q := string(tasks.LaneBulk)
	listers := []func(...asynq.ListOption) ([]*asynq.TaskInfo, error){
		func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return c.inspector.ListPendingTasks(q, o...) },
		func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return c.inspector.ListRetryTasks(q, o...) },
		func(o ...asynq.ListOption) ([]*asynq.TaskInfo, error) { return c.inspector.ListScheduledTasks(q, o...) },
	}
	for _, list := range listers {
		for page := 1; ; page++ {
			infos, err := inspect(ctx, func() ([]*asynq.TaskInfo, error) { return list(asynq.PageSize(sweepPage), asynq.Page(page)) })
			if errors.Is(err, asynq.ErrQueueNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("enqueue: cancel campaign %q: list the bulk queue: %w", name, err)
			}
			for _, info := range infos {
				if m, err := tasks.DecodeMeta(info.Payload); err == nil && m.Account == account && m.Campaign == name {
					found = append(found, info)
				}
			}
			if len(infos) < sweepPage {
				break
			}
		}
	}
	var deleted []*asynq.TaskInfo
	var ids []string
	var failed error
	for _, info := range found {
		err := c.inspector.DeleteTask(q, info.ID)
		switch {
		case err == nil:
			deleted, ids = append(deleted, info), append(ids, info.ID)
		case errors.Is(err, asynq.ErrTaskNotFound):
			// done meanwhile
		case c.rdb.Ping(ctx).Err() != nil:
			failed = fmt.Errorf("enqueue: cancel campaign %q: delete task %s: %w", name, info.ID, err)
		}
		// Otherwise a worker took it meanwhile (asynq refuses to delete an
		// active task): the worker records it.
		if failed != nil {
			break
		}
	}
	// Record what was deleted even when a deletion failed: those are gone.
	if err := reg.CancelDeleted(ctx, account, name, dropsOf(deleted)); err != nil {
		return fmt.Errorf("enqueue: cancel campaign %q: %w", name, err)
	}
	if err := c.freeRefs(ctx, account, deleted, ids); err != nil {
		return err
	}
	return failed
}

func dropsOf(infos []*asynq.TaskInfo) []campaign.Dropped {
	out := make([]campaign.Dropped, 0, len(infos))
	for _, info := range infos {
		d := campaign.Dropped{ID: info.ID, Failed: info.Retried > 0}
		d.Kind, _ = tasks.KindOf(info.Type)
		if m, err := tasks.DecodeMeta(info.Payload); err == nil {
			d.Ref = m.Ref
		}
		out = append(out, d)
	}
	return out
}

// freeRefs deletes the registry entries of the cancelled tasks among
// infos whose IDs are in ids, so that the refs may be enqueued again.
func (c *core) freeRefs(ctx context.Context, account string, infos []*asynq.TaskInfo, ids []string) error {
	took := make(map[string]bool, len(ids))
	for _, id := range ids {
		took[id] = true
	}
	var queues []any
	var ks []string
	for _, info := range infos {
		if !took[info.ID] {
			continue
		}
		if m, err := tasks.DecodeMeta(info.Payload); err == nil {
			ks = append(ks, keys.Ref(account, m.Ref))
			queues = append(queues, info.Queue)
		}
	}
	if len(ks) == 0 {
		return nil
	}
	if err := releaseScript.Run(ctx, c.rdb, ks, queues...).Err(); err != nil {
		return fmt.Errorf("enqueue: free the refs of %d cancelled notifications: %w", len(ks), err)
	}
	return nil
}
