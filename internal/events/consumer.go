package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Defaults of ConsumerConfig.
const (
	DefaultCount     = 100
	DefaultBlock     = time.Second
	DefaultClaimIdle = time.Minute
)

// ConsumerConfig configures a Consumer. Zero values are defaults.
type ConsumerConfig struct {
	// Group names the consumer group (required). The group as a whole
	// gets every event once; each event goes to one of its consumers.
	Group string
	// Consumer names this consumer in the group (default DefaultConsumer).
	// It must be unique among the group's live consumers; a process that
	// restarts with the same name first gets back what it had not
	// acknowledged.
	Consumer string
	// FromNow starts a group that does not exist yet after the stream's
	// last entry; by default a new group starts from the beginning. A group
	// that exists keeps its position.
	FromNow bool
	// Count is the most events one Read returns (default DefaultCount).
	Count int64
	// Block is how long Read waits for a new event (default DefaultBlock).
	// go-redis cannot interrupt the wait: Read returns within Block after
	// its context ends.
	Block time.Duration
	// ClaimIdle is how long an entry stays pending, unacknowledged, with a
	// consumer before another one claims it (default DefaultClaimIdle): a
	// consumer that died leaves its entries to the others that way.
	ClaimIdle time.Duration
	// OnMalformed, when set, learns of each entry that holds no event (one
	// written by hand): Read acknowledges and skips it.
	OnMalformed func(id string, err error)
	// Now is the clock of the claim passes (default time.Now).
	Now func() time.Time
}

// Consumer reads the event stream as one consumer of a Redis consumer
// group: at least once, with acknowledgement. Each Read returns, in this
// order, the entries this consumer had not acknowledged when it last
// stopped, entries other consumers left pending for ClaimIdle, and new
// entries. An entry stays pending until Ack; one never acknowledged is
// claimed again, by this consumer or another, after ClaimIdle.
//
// Read is not safe for concurrent use; Ack and Touch are.
type Consumer struct {
	rdb redis.Cmdable
	cfg ConsumerConfig

	joined    bool
	history   string // read own pending entries after this ID; "" once done
	cursor    string // XAUTOCLAIM's cursor; "0-0" between passes
	claimedAt time.Time
}

// NewConsumer returns a consumer of the event stream on rdb. It touches no
// Redis: the first Read creates the group (and the stream) if need be.
func NewConsumer(rdb redis.Cmdable, cfg ConsumerConfig) (*Consumer, error) {
	if cfg.Group == "" {
		return nil, errors.New("events: a consumer needs a group name (ConsumerConfig.Group)")
	}
	cfg.Consumer = cmp.Or(cfg.Consumer, DefaultConsumer())
	cfg.Count = cmp.Or(max(cfg.Count, 0), DefaultCount)
	cfg.Block = cmp.Or(max(cfg.Block, 0), DefaultBlock)
	cfg.ClaimIdle = cmp.Or(max(cfg.ClaimIdle, 0), DefaultClaimIdle)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Consumer{rdb: rdb, cfg: cfg, history: "0", cursor: "0-0"}, nil
}

// DefaultConsumer names a consumer after its host and process:
// "HOSTNAME-PID". In a container, where the PID is the same at every start,
// a restarted process so gets back what it left pending.
func DefaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// Name is the consumer's name in its group.
func (c *Consumer) Name() string { return c.cfg.Consumer }

// Read returns the next events for this consumer, oldest first, waiting up
// to Block for new ones; none, and no error, when none came.
func (c *Consumer) Read(ctx context.Context) ([]tasks.Event, error) {
	if err := c.join(ctx); err != nil {
		return nil, err
	}
	msgs, err := c.next(ctx)
	if redis.HasErrorPrefix(err, "NOGROUP") { // the stream or the group was deleted
		c.joined = false
		if err := c.join(ctx); err != nil {
			return nil, err
		}
		msgs, err = c.next(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("events: read %s as %s of group %q: %w", keys.Events, c.cfg.Consumer, c.cfg.Group, err)
	}
	return c.decode(ctx, msgs), nil
}

// join creates the group, and the stream, unless they exist.
func (c *Consumer) join(ctx context.Context) error {
	if c.joined {
		return nil
	}
	start := "0"
	if c.cfg.FromNow {
		start = "$"
	}
	err := c.rdb.XGroupCreateMkStream(ctx, keys.Events, c.cfg.Group, start).Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("events: create consumer group %q on %s: %w", c.cfg.Group, keys.Events, err)
	}
	c.joined = true
	return nil
}

// next reads this consumer's own pending entries first, then claims idle
// ones when a claim pass is due, then waits for new ones.
func (c *Consumer) next(ctx context.Context) ([]redis.XMessage, error) {
	if c.history != "" {
		msgs, err := c.readGroup(ctx, c.history, -1)
		if err != nil || len(msgs) > 0 {
			if len(msgs) > 0 {
				c.history = msgs[len(msgs)-1].ID
			}
			return msgs, err
		}
		c.history = ""
	}
	if c.claimDue() {
		msgs, err := c.claim(ctx)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
	}
	return c.readGroup(ctx, ">", c.cfg.Block)
}

// readGroup runs XREADGROUP from id: ">" for new entries, or an entry ID
// for this consumer's pending entries after it. A negative block does not
// wait.
func (c *Consumer) readGroup(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	streams, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: c.cfg.Group, Consumer: c.cfg.Consumer,
		Streams: []string{keys.Events, id}, Count: c.cfg.Count, Block: block}).Result()
	if errors.Is(err, redis.Nil) || (err == nil && len(streams) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return streams[0].Messages, nil
}

// claimDue says whether to scan for idle entries: while a pass is under
// way, and half a ClaimIdle after the last one ended.
func (c *Consumer) claimDue() bool {
	return c.cursor != "0-0" || c.cfg.Now().Sub(c.claimedAt) >= c.cfg.ClaimIdle/2
}

// claim takes over up to Count entries pending for ClaimIdle with any
// consumer (XAUTOCLAIM), going on from where the pass stands. Entries
// trimmed from the stream meanwhile leave the pending list on the way.
func (c *Consumer) claim(ctx context.Context) ([]redis.XMessage, error) {
	msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: keys.Events, Group: c.cfg.Group,
		Consumer: c.cfg.Consumer, MinIdle: c.cfg.ClaimIdle, Start: c.cursor, Count: c.cfg.Count}).Result()
	if err != nil {
		return nil, err
	}
	c.cursor = cmp.Or(next, "0-0")
	if c.cursor == "0-0" {
		c.claimedAt = c.cfg.Now()
	}
	return msgs, nil
}

// decode returns the events of msgs. It acknowledges the entries that hold
// none: those trimmed from the stream while pending, and malformed ones.
// Should that acknowledgement fail, they come back and are skipped again.
func (c *Consumer) decode(ctx context.Context, msgs []redis.XMessage) []tasks.Event {
	evs := make([]tasks.Event, 0, len(msgs))
	var skip []string
	for _, m := range msgs {
		ev, err := Decode(m)
		if err != nil {
			skip = append(skip, m.ID)
			if len(m.Values) > 0 && c.cfg.OnMalformed != nil {
				c.cfg.OnMalformed(m.ID, err)
			}
			continue
		}
		evs = append(evs, ev)
	}
	_ = c.Ack(ctx, skip...)
	return evs
}

// Ack acknowledges entries: they leave the group's pending list and are
// never read by the group again.
func (c *Consumer) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := c.rdb.XAck(ctx, keys.Events, c.cfg.Group, ids...).Err(); err != nil {
		return fmt.Errorf("events: acknowledge %d entries of %s in group %q: %w", len(ids), keys.Events, c.cfg.Group, err)
	}
	return nil
}

// Touch resets the idle time of entries this consumer still works on, so
// that no other consumer claims them meanwhile; call it well within every
// ClaimIdle. Acknowledged entries are left alone. An entry another consumer
// has already claimed is taken back: keep the calls regular.
func (c *Consumer) Touch(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := c.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: keys.Events, Group: c.cfg.Group,
		Consumer: c.cfg.Consumer, Messages: ids}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("events: keep %d entries of %s for %s: %w", len(ids), keys.Events, c.cfg.Consumer, err)
	}
	return nil
}
