package worker

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// pipelineCounter counts the pipelines and single commands a client sends.
type pipelineCounter struct{ pipelines, commands atomic.Int64 }

func (c *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.commands.Add(1)
		return next(ctx, cmd)
	}
}
func (c *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func setupRetention(t *testing.T) (*retention, *redis.Client, *pipelineCounter) {
	t.Helper()
	rdb := testutil.StartRedis(t).Client()
	counter := &pipelineCounter{}
	rdb.AddHook(counter)
	return newRetention(rdb, zerolog.Nop()), rdb, counter
}

func TestRetention_QueuedRefsGoInOnePipeline(t *testing.T) {
	t.Parallel()
	r, rdb, counter := setupRetention(t)
	ctx := context.Background()
	const n = 100
	for i := range n {
		rdb.Set(ctx, keys.Ref("acct", "r"+strconv.Itoa(i)), "bulk", 0)
	}
	counter.commands.Store(0)
	counter.pipelines.Store(0)
	// Queued while the sender is busy, as when deliveries finish during
	// one round trip: they leave together.
	r.once.Do(func() {}) // hold the sender back
	for i := range n {
		r.set("acct", "r"+strconv.Itoa(i), time.Hour)
	}
	go r.run()
	r.close()
	if p, c := counter.pipelines.Load(), counter.commands.Load(); p != 1 || c != 0 {
		t.Fatalf("%d refs sent in %d pipelines and %d single commands, want 1 pipeline", n, p, c)
	}
	for i := range n {
		ttl := rdb.TTL(ctx, keys.Ref("acct", "r"+strconv.Itoa(i))).Val()
		if ttl <= 59*time.Minute || ttl > time.Hour {
			t.Fatalf("ref r%d: TTL %s, want 1h", i, ttl)
		}
	}
}

func TestRetention_SetAfterCloseIsSentAtOnce(t *testing.T) {
	t.Parallel()
	r, rdb, _ := setupRetention(t)
	ctx := context.Background()
	r.set("acct", "first", time.Minute) // starts the sender
	r.close()
	key := keys.Ref("acct", "late")
	rdb.Set(ctx, key, "bulk", 0)
	// A handler that outlived the shutdown timeout still records its ref.
	r.set("acct", "late", time.Minute)
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %s after close, want 1m", ttl)
	}
}

// A handler run without Server.Start (as the fuzz target runs it) must not
// block once more refs than a batch were handed over, and close sends them
// all.
func TestRetention_NeverBlocksWithoutStart(t *testing.T) {
	t.Parallel()
	r, rdb, _ := setupRetention(t)
	ctx := context.Background()
	n := 3 * retentionBatch
	for i := range n {
		rdb.Set(ctx, keys.Ref("acct", "r"+strconv.Itoa(i)), "bulk", 0)
	}
	for i := range n {
		r.set("acct", "r"+strconv.Itoa(i), time.Hour)
	}
	r.close()
	r.close() // twice: a no-op
	for i := range n {
		if ttl := rdb.TTL(ctx, keys.Ref("acct", "r"+strconv.Itoa(i))).Val(); ttl <= 0 {
			t.Fatalf("ref r%d: TTL %s after close, want 1h", i, ttl)
		}
	}
}
