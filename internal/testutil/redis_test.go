package testutil

import (
	"context"
	"testing"
)

func TestStartRedis_StopRestartKeepsAOFData(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, WithAOF())
	if r.dir == "" {
		t.Skip("REDIS_URL is set: restart needs a private server")
	}
	ctx := context.Background()
	c := r.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Restart()
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after restart with AOF: got %q, %v; want v", got, err)
	}
}

func TestStartRedis_PrivateServersAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := StartRedis(t), StartRedis(t)
	if a.Addr == b.Addr && a.dir != "" {
		t.Fatalf("two private servers share %s", a.Addr)
	}
}
