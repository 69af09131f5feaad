package enqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alicebob/miniredis/v2"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// The examples run against miniredis; a program passes REDIS_URL instead.
func startRedis() (*miniredis.Miniredis, string) {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	return m, "redis://" + m.Addr() + "/0"
}

func Example() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()

	c, err := enqueue.New(ctx, redisURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	n := leadsquared.SystemNotification{
		Type:         "Lead",
		ToUser:       "2f5508b5-f7ed-11ea-b39f-122cab85b441",
		CardContents: leadsquared.CardContents{Message: "New lead assigned"},
	}
	res, err := c.SendSystem(ctx, n, enqueue.WithRef("lead-42"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.TaskID, res.Queue, res.State, res.Duplicate)

	// The same ref again, even as a bulk push, enqueues nothing.
	push := leadsquared.PushNotification{Title: "New lead", Content: "Call now"}
	res, _ = c.SendPush(ctx, push, enqueue.WithRef("lead-42"), enqueue.Bulk())
	fmt.Println(res.TaskID, res.Queue, res.State, res.Duplicate)

	st, _ := c.Status(ctx, "default", "lead-42")
	fmt.Println(st.Kind, st.State, st.Attempts, st.MaxRetry)
	// Output:
	// default:lead-42 transactional pending false
	// default:lead-42 transactional pending true
	// system pending 0 10
}

func ExampleClient_SendSystem_invalid() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()
	c, _ := enqueue.New(ctx, redisURL)
	defer c.Close()

	_, err := c.SendSystem(ctx, leadsquared.SystemNotification{
		Type:         "Lead",
		ToUser:       "bob",
		CardContents: leadsquared.CardContents{Message: strings.Repeat("!", 201)},
	})
	var ve *leadsquared.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// CardContents.Message: 201 characters, over the limit of 200
	// ToUser: "bob" is not a GUID (a LeadSquared user Id looks like 2f5508b5-f7ed-11ea-b39f-122cab85b441)
}

func ExampleClient_Campaign() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()
	c, _ := enqueue.New(ctx, redisURL)
	defer c.Close()

	jsonl := `{"type":"system","ref":"lead-1","body":{"Type":"Lead","ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441","CardContents":{"Message":"New lead"}}}
{"type":"push","ref":"sig-7","body":{"Title":"Hot lead","Content":"Call now"}}
{"type":"push","ref":"sig-8","body":{"title":"Hot lead","Content":"Call now"}}
`
	rep, err := c.Campaign(ctx, strings.NewReader(jsonl), enqueue.CampaignOptions{Name: "spring"})
	fmt.Println(errors.Is(err, enqueue.ErrInvalidCampaign), rep.Enqueued)
	for _, p := range rep.Problems {
		fmt.Println(p)
	}

	rep, err = c.Campaign(ctx, strings.NewReader(jsonl), enqueue.CampaignOptions{Name: "spring", SkipInvalid: true})
	fmt.Println(err, rep.Lines, rep.Enqueued, rep.Invalid)
	// Output:
	// true 0
	// line 3: body.title: unknown field; the name is "Title" (names are case-sensitive)
	// <nil> 3 2 1
}

// An operator's tool inspects and controls the queues with an Inspector; a
// service that only sends needs none.
func ExampleInspector() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()

	c, err := enqueue.New(ctx, redisURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	push := leadsquared.PushNotification{Title: "Webinar", Content: "Starts in an hour"}
	if _, err := c.SendPush(ctx, push, enqueue.WithRef("webinar-9"), enqueue.Bulk()); err != nil {
		fmt.Println(err)
		return
	}

	insp, err := enqueue.NewInspector(ctx, redisURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer insp.Close()
	st, _ := insp.Stats(ctx)
	for _, q := range st.Queues {
		fmt.Println(q.Queue, "pending", q.Pending)
	}
	fmt.Println("cancel:", insp.Cancel(ctx, "default", "webinar-9"))
	_, err = c.Status(ctx, "default", "webinar-9")
	fmt.Println("status after cancel:", errors.Is(err, enqueue.ErrNotFound))
	// Output:
	// transactional pending 0
	// bulk pending 1
	// cancel: <nil>
	// status after cancel: true
}

// A campaign is steered by name: paused, resumed, cancelled. Cancel records
// what was not sent as cancelled and frees its refs.
func ExampleInspector_PauseCampaign() {
	m, redisURL := startRedis()
	defer m.Close()
	ctx := context.Background()
	c, _ := enqueue.New(ctx, redisURL)
	defer c.Close()
	insp, _ := enqueue.NewInspector(ctx, redisURL)
	defer insp.Close()

	jsonl := `{"type":"push","ref":"sale-1","body":{"Title":"Sale","Content":"50% off today"}}
{"type":"push","ref":"sale-2","body":{"Title":"Sale","Content":"50% off today"}}
`
	rep, _ := c.Campaign(ctx, strings.NewReader(jsonl), enqueue.CampaignOptions{Name: "spring"})
	fmt.Println(rep.Name, rep.Enqueued)

	info, _ := insp.PauseCampaign(ctx, "", "spring")
	fmt.Println(info.State, info.Counts.Total, info.Counts.Pending)
	info, _ = insp.ResumeCampaign(ctx, "", "spring")
	fmt.Println(info.State)
	info, _ = insp.CancelCampaign(ctx, "", "spring")
	fmt.Println(info.State, info.Counts.Cancelled, info.Counts.Pending)

	_, err := insp.CampaignStatus(ctx, "", "autumn")
	fmt.Println(errors.Is(err, enqueue.ErrCampaignNotFound))
	// Output:
	// spring 2
	// paused 2 2
	// running
	// cancelled 2 0
	// true
}
