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

// Client enqueues notifications and tells what became of them (Status): all
// a service that sends notifications needs. Controlling the queues (Cancel,
// the dead letters, Stats) is an Inspector's. It is safe for concurrent use;
// create one per process and Close it at exit.
type Client struct {
	core
	asynq *asynq.Client
}

// Inspector inspects and controls what was enqueued: it cancels
// notifications, lists, replays and purges dead letters and reads the
// queues' Stats, for operators' tools such as notifyctl. It is to Client
// what asynq's Inspector is to asynq's Client. It is safe for concurrent use;
// Close it at exit.
type Inspector struct {
	core
}

// core is the connection to Redis of a Client or an Inspector, and the code
// both use on it.
type core struct {
	rdb       redis.UniversalClient
	inspector *asynq.Inspector
	// where names the Redis server in errors, without any password.
	where string
	// eventsMaxLen caps the event stream (0: events.DefaultMaxLen).
	eventsMaxLen int64
}

// New connects to the Redis named by a URL, as in REDIS_URL, and pings it:
// redis://[user:password@]host:port/db, rediss://… (TLS),
// redis-sentinel://host:port[,host:port…]/db?master=NAME or
// redis-cluster://host:port[,host:port…] (see internal/redisconn for the
// options). Errors never show the password.
func New(ctx context.Context, redisURL string) (*Client, error) {
	cr, err := dialURL(ctx, redisURL)
	if err != nil {
		return nil, err
	}
	return &Client{core: cr, asynq: asynq.NewClientFromRedisClient(cr.rdb)}, nil
}

// NewFromOptions connects with go-redis options: a single server, a Sentinel
// failover group or a Cluster, as redis.NewUniversalClient decides, and pings.
func NewFromOptions(ctx context.Context, o *redis.UniversalOptions) (*Client, error) {
	cr, err := dialOptions(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Client{core: cr, asynq: asynq.NewClientFromRedisClient(cr.rdb)}, nil
}

// NewInspector connects an Inspector to the Redis named by a URL, as New does.
func NewInspector(ctx context.Context, redisURL string) (*Inspector, error) {
	cr, err := dialURL(ctx, redisURL)
	if err != nil {
		return nil, err
	}
	return &Inspector{core: cr}, nil
}

// NewInspectorFromOptions connects an Inspector with go-redis options, as
// NewFromOptions does.
func NewInspectorFromOptions(ctx context.Context, o *redis.UniversalOptions) (*Inspector, error) {
	cr, err := dialOptions(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Inspector{core: cr}, nil
}

func dialURL(ctx context.Context, redisURL string) (core, error) {
	if strings.TrimSpace(redisURL) == "" {
		return core{}, fmt.Errorf("enqueue: no Redis URL given: set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0")
	}
	conn, err := redisconn.Parse(redisURL)
	if err != nil {
		return core{}, fmt.Errorf("enqueue: %w (as in REDIS_URL)", err)
	}
	cr, err := connect(ctx, conn.Client(), conn.String())
	return cr, conn.Redact(err)
}

func dialOptions(ctx context.Context, o *redis.UniversalOptions) (core, error) {
	if o == nil || len(o.Addrs) == 0 {
		return core{}, fmt.Errorf("enqueue: redis.UniversalOptions must name at least one address in Addrs")
	}
	return connect(ctx, redis.NewUniversalClient(o), strings.Join(o.Addrs, ","))
}

func connect(ctx context.Context, rdb redis.UniversalClient, where string) (core, error) {
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return core{}, fmt.Errorf("enqueue: Redis at %s does not answer PING: %w (check REDIS_URL and that Redis is running)", where, err)
	}
	return core{rdb: rdb, inspector: asynq.NewInspectorFromRedisClient(rdb), where: where}, nil
}

// Close closes the connections to Redis.
func (c *Client) Close() error { return c.rdb.Close() }

// Close closes the connections to Redis.
func (i *Inspector) Close() error { return i.rdb.Close() }

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
