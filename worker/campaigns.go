package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// campaignCheck is how long a process trusts the state it read of a
// campaign: a pause or a cancel stops this process's calls for it within
// this long (and the dispatch scheduler's next tick, which never releases
// a stopped campaign's tasks).
const campaignCheck = 250 * time.Millisecond

// pausedRecheck is how soon a task of a paused campaign that was already
// released comes back to see whether its campaign was resumed.
const pausedRecheck = time.Second

// CampaignPausedError hands back a task of a paused campaign.
type CampaignPausedError struct{ Account, Campaign string }

func (e *CampaignPausedError) Error() string {
	return fmt.Sprintf("campaign %q of account %q is paused (notifyctl campaign resume %s --account %s)",
		e.Campaign, e.Account, e.Campaign, e.Account)
}

// campaigns reads the states of campaigns for the handler, each at most
// campaignCheck old, and records the final outcomes of notifications with
// their events.
type campaigns struct {
	reg *campaign.Registry
	now func() time.Time

	mu     sync.Mutex
	states map[string]cachedState
}

type cachedState struct {
	state campaign.State
	at    time.Time
}

func newCampaigns(reg *campaign.Registry) *campaigns {
	return &campaigns{reg: reg, now: time.Now, states: map[string]cachedState{}}
}

// state returns the state of the notification's campaign ("" when it has
// none or its record is gone: it runs). A Redis error reads as running:
// the limiter's own call to Redis comes next, and fails the same way.
func (c *campaigns) state(ctx context.Context, m tasks.Meta) campaign.State {
	if m.Campaign == "" {
		return ""
	}
	g := tasks.Group(m.Account, m.Campaign)
	now := c.now()
	c.mu.Lock()
	s, ok := c.states[g]
	c.mu.Unlock()
	if ok && now.Sub(s.at) < campaignCheck {
		return s.state
	}
	st, err := c.reg.StateOf(ctx, g)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	if len(c.states) > 10000 {
		clear(c.states)
	}
	c.states[g] = cachedState{state: st, at: now}
	c.mu.Unlock()
	return st
}

// record counts a final outcome (or a first failure) in the notification's
// campaign and appends its event; it returns at once for other outcomes.
func (c *campaigns) record(ctx context.Context, a *attempt, err error) error {
	o := campaign.Outcome{Failed: a.number > 1, Event: tasks.Event{At: c.now(), Account: a.meta.Account,
		Ref: a.meta.Ref, Kind: a.kind, Campaign: a.meta.Campaign, MessageID: a.messageID, Attempt: a.number}}
	switch a.outcome {
	case OutcomeDelivered:
		o.Count, o.Event.Type = "delivered", tasks.EventDelivered
	case OutcomeDeliveredUnconfirmed:
		o.Count, o.Event.Type, o.Unconfirmed = "delivered", tasks.EventDelivered, true
		o.Event.Reason = "unconfirmed: " + errText(a.cause)
	case OutcomeExpired:
		o.Count, o.Event.Type = "expired", tasks.EventExpired
	case OutcomeCancelled:
		o.Count, o.Event.Type = "cancelled", tasks.EventCancelled
		o.Event.Reason = "campaign cancelled"
	case OutcomeArchived:
		o.Count, o.Event.Type, o.Event.Reason = "dead_lettered", tasks.EventDeadLettered, errText(err)
	case OutcomeRetried:
		if a.number > 1 || a.meta.Campaign == "" {
			return nil // counted as retrying at its first failure
		}
		o.Count, o.Failed = "retrying", false
	default:
		return nil
	}
	return c.reg.Record(ctx, o)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// freeRef frees the ref of a notification its campaign's cancel dropped:
// a corrected campaign may use it again (enqueue replaces the completed task
// that still holds the ID).
func (h *handler) freeRef(ctx context.Context, m tasks.Meta) {
	if err := h.rdb.Del(ctx, keys.Ref(m.Account, m.Ref)).Err(); err != nil && !errors.Is(err, context.Canceled) {
		h.log.Warn().Err(err).Str("ref", m.Ref).Msg("cancelled, but its ref could not be freed")
	}
}
