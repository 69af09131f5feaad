package worker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// A worker for one account, as notifyd runs it: it takes the tasks the
// enqueue package puts in Redis and delivers them under the account's limit.
// Here Redis is embedded (miniredis) and LeadSquared local
// (leadsquaredtest); package workertest sets the same up for a test.
func Example() {
	ctx := context.Background()
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	lsq := leadsquaredtest.NewServer(leadsquaredtest.Config{})
	defer lsq.Close()
	sender, err := lsq.Client() // in production: leadsquared.NewClient with the account's keys
	if err != nil {
		panic(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	srv, err := worker.New(worker.Config{
		Queue:    asynq.RedisClientOpt{Addr: mr.Addr()},
		Redis:    rdb,
		Accounts: []worker.Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: worker.DefaultPolicy}},
		Logger:   zerolog.Nop(),
	})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown() // stops taking tasks; in-flight calls finish

	// A producer, elsewhere, enqueues.
	c, err := enqueue.New(ctx, "redis://"+mr.Addr()+"/0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.SendSystem(ctx, leadsquared.SystemNotification{
		Type:         "Lead",
		CardContents: leadsquared.CardContents{Message: "New lead assigned"},
		ToUser:       "2f5508b5-f7ed-11ea-b39f-122cab85b441",
	}, enqueue.WithRef("lead-42")); err != nil {
		panic(err)
	}

	// The worker delivers it.
	var st enqueue.StatusInfo
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = c.Status(ctx, tasks.DefaultAccount, "lead-42"); err == nil && st.State == enqueue.StateCompleted {
			break
		}
	}
	fmt.Printf("lead-42: %s, %d failed attempts, MessageID set: %v\n", st.State, st.Attempts, st.MessageID != "")
	fmt.Println("LeadSquared accepted:", lsq.Stats().Accepted)
	// Output:
	// lead-42: completed, 0 failed attempts, MessageID set: true
	// LeadSquared accepted: 1
}
