package enqueue

import (
	"context"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// EventQuery selects what Inspector.Events reads; the zero value reads
// every event in the stream, then returns.
type EventQuery struct {
	// After is the ID of the event to start after ("": the oldest event).
	After string
	// Campaign, when set, keeps only the events of the campaign of that
	// name: its notifications' outcomes and its transitions.
	Campaign string
	// Follow keeps reading the events appended after the last one, until
	// ctx ends.
	Follow bool
}

const (
	eventsPage = 500         // events per read
	eventsWait = time.Second // each wait for new events while following
)

// Events calls fn with each event of the stream that q selects, oldest
// first, each with its ID, and returns fn's first error. Without Follow it
// returns nil at the end of the stream; with it, it waits for new events
// until ctx ends, returning ctx's error within a second of that. It joins
// no consumer group and changes nothing: a service that acts on events
// reads them with Client.EventReader.
func (i *Inspector) Events(ctx context.Context, q EventQuery, fn func(tasks.Event) error) error {
	after := q.After
	wait := time.Duration(0)
	if q.Follow {
		wait = eventsWait
	}
	for {
		evs, err := events.Next(ctx, i.rdb, after, eventsPage, wait)
		for _, ev := range evs {
			after = ev.ID
			if q.Campaign != "" && ev.Campaign != q.Campaign {
				continue
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		switch {
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case len(evs) == 0 && !q.Follow:
			return nil
		}
	}
}
