// Package events writes and reads the event stream: one Redis Stream
// (keys.Events) where every final outcome of a notification and every
// campaign transition is appended as one JSON object (tasks.Event), capped
// at about MaxLen entries. Workers and the campaign registry append to it;
// notifyctl events, enqueue's reader and notifyd's webhook read it.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// DefaultMaxLen is the stream's default cap: about a million events (Redis
// trims whole macro nodes, so a few more may stay).
const DefaultMaxLen = 1_000_000

// Field is the name of the stream entry field that holds the event's JSON.
const Field = "e"

// Encode returns the JSON of ev as stored in the stream (without its ID).
func Encode(ev tasks.Event) string {
	ev.ID = ""
	ev.At = ev.At.UTC()
	data, _ := json.Marshal(ev) // an Event always encodes
	return string(data)
}

// Decode returns the event of a stream entry.
func Decode(m redis.XMessage) (tasks.Event, error) {
	var ev tasks.Event
	s, ok := m.Values[Field].(string)
	if !ok {
		return ev, fmt.Errorf("events: entry %s has no %q field", m.ID, Field)
	}
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		return ev, fmt.Errorf("events: entry %s: %w", m.ID, err)
	}
	ev.ID = m.ID
	return ev, nil
}

// AddArgs returns the XADD arguments that append ev to the stream capped at
// maxLen (DefaultMaxLen when 0 or less).
func AddArgs(ev tasks.Event, maxLen int64) *redis.XAddArgs {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &redis.XAddArgs{Stream: keys.Events, MaxLen: maxLen, Approx: true, Values: []any{Field, Encode(ev)}}
}

// Append appends evs to the stream in one round trip.
func Append(ctx context.Context, rdb redis.Cmdable, maxLen int64, evs ...tasks.Event) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range evs {
			p.XAdd(ctx, AddArgs(ev, maxLen))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: append %d events to %s: %w", len(evs), keys.Events, err)
	}
	return nil
}

// Range returns up to count events after the entry ID after ("" or "0":
// from the start of the stream), oldest first.
func Range(ctx context.Context, rdb redis.Cmdable, after string, count int64) ([]tasks.Event, error) {
	start := "-"
	if after != "" && after != "0" {
		start = "(" + after
	}
	msgs, err := rdb.XRangeN(ctx, keys.Events, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("events: read %s: %w", keys.Events, err)
	}
	return decodeAll(msgs)
}

// Next returns up to count events after the entry ID after ("" or "0":
// from the start of the stream), oldest first. When there is none yet and
// wait is positive, it waits up to wait for one to be appended; it returns
// no events, and no error, when none came. go-redis cannot interrupt the
// wait: Next returns within wait after ctx ends.
func Next(ctx context.Context, rdb redis.Cmdable, after string, count int64, wait time.Duration) ([]tasks.Event, error) {
	if after == "" {
		after = "0"
	}
	block := time.Duration(-1) // no BLOCK: go-redis sends BLOCK 0, forever, for 0
	if wait > 0 {
		block = wait
	}
	streams, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{keys.Events, after}, Count: count, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("events: read %s: %w", keys.Events, err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return decodeAll(streams[0].Messages)
}

func decodeAll(msgs []redis.XMessage) ([]tasks.Event, error) {
	evs := make([]tasks.Event, 0, len(msgs))
	for _, m := range msgs {
		ev, err := Decode(m)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
