package enqueue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// failAsynq makes every script call on asynq's keys fail, as a Redis that
// breaks between the claim and the enqueue would.
type failAsynq struct{}

var errBoom = errors.New("boom")

func asynqScript(cmd redis.Cmder) bool {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	return (name == "evalsha" || name == "eval") && len(args) > 3 && strings.HasPrefix(args[3].(string), "asynq:")
}

func (failAsynq) DialHook(next redis.DialHook) redis.DialHook { return next }

func (failAsynq) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if asynqScript(cmd) {
			cmd.SetErr(errBoom)
			return errBoom
		}
		return next(ctx, cmd)
	}
}

func (failAsynq) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if asynqScript(c) {
				for _, c := range cmds {
					c.SetErr(errBoom)
				}
				return errBoom
			}
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = failAsynq{}

func failingClient(t *testing.T) (*Client, *redis.Client) {
	t.Helper()
	r := testutil.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	rdb.AddHook(failAsynq{})
	cr, err := connect(t.Context(), rdb, r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{core: cr, asynq: asynq.NewClientFromRedisClient(rdb)}
	t.Cleanup(func() { _ = c.Close() })
	return c, r.Client()
}

func TestClient_FailedEnqueueReleasesClaim(t *testing.T) {
	t.Parallel()

	t.Run("Send", func(t *testing.T) {
		t.Parallel()
		c, plain := failingClient(t)
		n := leadsquared.PushNotification{Title: "t", Content: "c"}
		_, err := c.SendPush(t.Context(), n, WithRef("ghost"))
		// asynq keeps only the text of the cause.
		if err == nil || !strings.Contains(err.Error(), "enqueue task default:ghost in queue transactional") || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("err = %v; want the enqueue's error", err)
		}
		if n := plain.Exists(t.Context(), "lsqd:{default}:ref:ghost").Val(); n != 0 {
			t.Error("the claim was left behind")
		}
	})

	t.Run("Campaign", func(t *testing.T) {
		t.Parallel()
		c, plain := failingClient(t)
		lines := `{"type":"push","ref":"a","body":{"Title":"t","Content":"c"}}` + "\n" +
			`{"type":"push","ref":"b","body":{"Title":"t","Content":"c"}}` + "\n"
		rep, err := c.Campaign(t.Context(), strings.NewReader(lines), CampaignOptions{Concurrency: 1})
		if err == nil || !strings.Contains(err.Error(), "boom") || rep.Enqueued != 0 {
			t.Fatalf("campaign: %+v, %v; want the enqueue's error", rep, err)
		}
		if keys := plain.Keys(t.Context(), "lsqd:*:ref:*").Val(); len(keys) != 0 {
			t.Errorf("claims left behind: %v", keys)
		}
	})
}

func TestInspect_ReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := inspect(ctx, func() (int, error) { <-release; return 1, nil })
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("inspect after cancel: %v", err)
	}
	close(release)
}
