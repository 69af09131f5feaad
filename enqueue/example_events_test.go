package enqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// notifydDelivers stands in for notifyd's workers, which append an event
// to the stream as each notification reaches its outcome.
func notifydDelivers(redisURL, campaign string, refs ...string) {
	o, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(o)
	defer rdb.Close()
	for _, ref := range refs {
		ev := tasks.Event{Type: tasks.EventDelivered, At: time.Now(), Account: tasks.DefaultAccount,
			Ref: ref, Kind: tasks.KindPush, Campaign: campaign, MessageID: "msg-" + ref, Attempt: 1}
		if err := events.Append(context.Background(), rdb, 0, ev); err != nil {
			panic(err)
		}
	}
}

// A service learns what became of its notifications by reading the events
// in a consumer group of its own, acknowledging each once handled.
func ExampleClient_EventReader() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()
	c, err := enqueue.New(ctx, redisURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	notifydDelivers(redisURL, "", "lead-42", "lead-43")

	r, err := c.EventReader(enqueue.EventReaderConfig{Group: "crm-sync", Consumer: "crm-sync-1", Block: 50 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	evs, err := r.Read(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range evs {
		fmt.Println(ev.Type, ev.Account, ev.Ref, ev.MessageID)
		// Handle the event, then acknowledge it; one not acknowledged
		// comes back to the group after ClaimIdle.
		if err := r.Ack(ctx, ev.ID); err != nil {
			fmt.Println(err)
		}
	}
	evs, _ = r.Read(ctx)
	fmt.Println(len(evs), "more")
	// Output:
	// delivered default lead-42 msg-lead-42
	// delivered default lead-43 msg-lead-43
	// 0 more
}

// An operator's tool reads the stream without consuming it.
func ExampleInspector_Events() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()
	notifydDelivers(redisURL, "spring", "sig-1", "sig-2")
	notifydDelivers(redisURL, "", "lead-42")

	insp, err := enqueue.NewInspector(ctx, redisURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer insp.Close()
	err = insp.Events(ctx, enqueue.EventQuery{Campaign: "spring"}, func(ev tasks.Event) error {
		fmt.Println(ev.Type, ev.Campaign, ev.Ref)
		return nil
	})
	fmt.Println(err)
	// Output:
	// delivered spring sig-1
	// delivered spring sig-2
	// <nil>
}
