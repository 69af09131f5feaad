package enqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
)

// Errors a caller can test for with errors.Is. Validation problems come as a
// *leadsquared.ValidationError instead (see SendSystem).
var (
	// ErrNotFound: Redis does not know the ref (or dead letter ID).
	ErrNotFound = errors.New("not found")
	// ErrActive: the notification is being sent right now and cannot be cancelled.
	ErrActive = errors.New("being sent now")
	// ErrCompleted: the notification was already sent.
	ErrCompleted = errors.New("already sent")
	// ErrNotDeadLetter: the task exists but is not archived, so it is no dead letter.
	ErrNotDeadLetter = errors.New("not a dead letter")
	// ErrInvalidCampaign: some lines of a campaign are invalid and
	// CampaignOptions.SkipInvalid is false, so nothing was enqueued.
	ErrInvalidCampaign = errors.New("invalid campaign")
)

// Client enqueues notifications and inspects them. It is safe for concurrent
// use; create one per process and Close it at exit.
type Client struct {
	rdb       redis.UniversalClient
	asynq     *asynq.Client
	inspector *asynq.Inspector
	// where names the Redis server in errors, without any password.
	where string
}

// New connects to the Redis named by a URL, as in REDIS_URL, and pings it:
// redis://[user:password@]host:port/db, rediss://… (TLS),
// redis-sentinel://host:port[,host:port…]/db?master=NAME or
// redis-cluster://host:port[,host:port…] (see internal/redisconn for the
// options). Errors never show the password.
func New(ctx context.Context, redisURL string) (*Client, error) {
	if strings.TrimSpace(redisURL) == "" {
		return nil, fmt.Errorf("enqueue: no Redis URL given: set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0")
	}
	conn, err := redisconn.Parse(redisURL)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w (as in REDIS_URL)", err)
	}
	c, err := connect(ctx, conn.Client(), conn.String())
	return c, conn.Redact(err)
}

// NewFromOptions connects with go-redis options: a single server, a Sentinel
// failover group or a Cluster, as redis.NewUniversalClient decides, and pings.
func NewFromOptions(ctx context.Context, o *redis.UniversalOptions) (*Client, error) {
	if o == nil || len(o.Addrs) == 0 {
		return nil, fmt.Errorf("enqueue: redis.UniversalOptions must name at least one address in Addrs")
	}
	return connect(ctx, redis.NewUniversalClient(o), strings.Join(o.Addrs, ","))
}

func connect(ctx context.Context, rdb redis.UniversalClient, where string) (*Client, error) {
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("enqueue: Redis at %s does not answer PING: %w (check REDIS_URL and that Redis is running)", where, err)
	}
	return &Client{
		rdb:       rdb,
		asynq:     asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		where:     where,
	}, nil
}

// Close closes the connections to Redis.
func (c *Client) Close() error {
	return c.rdb.Close()
}

// inspect runs one call of asynq's Inspector, which takes no context, and
// returns when it ends or ctx is done, whichever comes first. A call left
// behind ends by itself within go-redis's read and write timeouts; a mutation
// it makes may still happen after ctx is done.
func inspect[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// now is the clock of enqueued_at and scheduling.
func now() time.Time { return time.Now() }
