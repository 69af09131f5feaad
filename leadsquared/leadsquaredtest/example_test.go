package leadsquaredtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
)

// A local LeadSquared with a limit of 2 calls per 5 s: the third push in a
// row is refused with LeadSquared's rate-limit answer.
func Example() {
	srv := leadsquaredtest.NewServer(leadsquaredtest.Config{Limit: 2})
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		panic(err)
	}

	for i := 1; i <= 3; i++ {
		ctx := leadsquared.WithRequestID(context.Background(), fmt.Sprintf("task-%d", i))
		msg, err := client.SendPush(ctx, leadsquared.PushNotification{Title: "Hot lead", Content: "Call Asha now"})
		var lerr *leadsquared.Error
		switch {
		case err == nil:
			fmt.Printf("task-%d: %s\n", i, msg)
		case errors.As(err, &lerr):
			fmt.Printf("task-%d: HTTP %d, %s, limit %s\n", i, lerr.StatusCode, lerr.Kind, lerr.Limit)
		}
	}
	st := srv.Stats()
	fmt.Printf("accepted %d, rate limited %d, most in one window %d\n", st.Accepted, st.RateLimited, st.MaxInWindow)
	// Output:
	// task-1: Message broadcasted successfully
	// task-2: Message broadcasted successfully
	// task-3: HTTP 429, rate_limited, limit 2/5s
	// accepted 2, rate limited 1, most in one window 2
}

// Scripts make chosen refs fail: here the first call for "ref-7" gets a 500,
// the retry succeeds, and the stats show the notification delivered once.
func ExampleFaults() {
	srv := leadsquaredtest.NewServer(leadsquaredtest.Config{
		Faults: leadsquaredtest.Faults{Scripts: []leadsquaredtest.Script{{Ref: "ref-7", FirstN: 1, Status: 500}}},
	})
	defer srv.Close()
	client, _ := srv.Client()

	n := leadsquared.SystemNotification{
		Type:           "Lead",
		CardContents:   leadsquared.CardContents{Message: "New lead assigned"},
		ToUser:         "2f5508b5-f7ed-11ea-b39f-122cab85b441",
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: "ref-7"},
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := client.SendSystem(context.Background(), n); err != nil {
			fmt.Printf("attempt %d: %s error, retry\n", attempt, leadsquared.Classify(err))
			continue
		}
		fmt.Printf("attempt %d: sent\n", attempt)
	}
	fmt.Println("delivered:", srv.Stats().PerRef["ref-7"])
	// Output:
	// attempt 1: transient error, retry
	// attempt 2: sent
	// delivered: 1
}
