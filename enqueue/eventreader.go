package enqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// EventReaderConfig configures an EventReader. Zero values are defaults.
type EventReaderConfig struct {
	// Group names the reader's consumer group (required), e.g. the
	// service's name. The group gets every event once, shared between its
	// readers; another group gets them all again. "webhook" is notifyd's.
	Group string
	// Consumer names this reader in its group: unique among the group's
	// live readers, and the same after a restart, so that the process gets
	// back what it had not acknowledged (default: "HOSTNAME-PID").
	Consumer string
	// FromNow starts a group that does not exist yet at the events
	// appended from then on; by default it starts at the oldest event in
	// the stream. A group that exists keeps its position.
	FromNow bool
	// Count is the most events one Read returns (default 100).
	Count int64
	// Block is how long Read waits for a new event (default 1s); Read
	// returns within Block after its context ends.
	Block time.Duration
	// ClaimIdle is how long an event read by a reader of the group stays
	// unacknowledged before another reader gets it (default 1m): what a
	// dead process read comes back to the live ones.
	ClaimIdle time.Duration
}

// EventReader reads the event stream, what became of each notification
// (tasks.Event: delivered, dead-lettered, expired, cancelled) and each
// campaign's transitions, as one reader of a Redis consumer group: at
// least once, in stream order, each event to one reader of the group until
// acknowledged. Read is not safe for concurrent use: give each goroutine
// its own EventReader (with its own Consumer name); Ack is.
type EventReader struct {
	c *events.Consumer
}

// EventReader returns a reader of the event stream on the Client's Redis.
// It touches no Redis: the first Read creates the group if need be.
func (c *Client) EventReader(cfg EventReaderConfig) (*EventReader, error) {
	if cfg.Group == "" {
		return nil, errors.New(`enqueue: an event reader needs a group: set EventReaderConfig.Group, e.g. to your service's name`)
	}
	if cfg.Group == events.WebhookGroup {
		return nil, fmt.Errorf("enqueue: the group %q is notifyd's webhook's, whose events it would take: name your own group", cfg.Group)
	}
	cons, err := events.NewConsumer(c.rdb, events.ConsumerConfig{Group: cfg.Group, Consumer: cfg.Consumer,
		FromNow: cfg.FromNow, Count: cfg.Count, Block: cfg.Block, ClaimIdle: cfg.ClaimIdle})
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return &EventReader{c: cons}, nil
}

// Read returns the next events for this reader, oldest first, each with
// its ID: first those it had not acknowledged when it last stopped, then
// those another reader of the group left unacknowledged for ClaimIdle, then
// new ones, waiting up to Block for them. It returns no events, and no
// error, when none came. An event not acknowledged comes back after
// ClaimIdle.
func (r *EventReader) Read(ctx context.Context) ([]tasks.Event, error) {
	return r.c.Read(ctx)
}

// Ack acknowledges events by ID once they are handled: the group never
// reads them again.
func (r *EventReader) Ack(ctx context.Context, ids ...string) error {
	return r.c.Ack(ctx, ids...)
}
