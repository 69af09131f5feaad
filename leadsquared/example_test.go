package leadsquared_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
)

// newExampleServer starts a local LeadSquared (leadsquaredtest) that accepts
// the example's keys and allows limit calls per 5 seconds.
func newExampleServer(limit int) *leadsquaredtest.Server {
	return leadsquaredtest.NewServer(leadsquaredtest.Config{
		AccessKey: "example-access",
		SecretKey: "example-secret",
		Limit:     limit,
		Faults:    leadsquaredtest.Faults{RetryAfter: 5 * time.Second},
	})
}

func newExampleClient(baseURL string) *leadsquared.Client {
	c, err := leadsquared.NewClient(leadsquared.Config{
		BaseURL:   baseURL, // in production: leave empty and set Region, e.g. "us11"
		AccessKey: "example-access",
		SecretKey: "example-secret",
	})
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleClient_SendSystem() {
	srv := newExampleServer(25)
	defer srv.Close()
	c := newExampleClient(srv.URL)

	ctx := leadsquared.WithRequestID(context.Background(), "ref-1001")
	id, err := c.SendSystem(ctx, leadsquared.SystemNotification{
		Type: "Lead",
		CardContents: leadsquared.CardContents{
			Message: "New lead assigned",
			CTA:     &leadsquared.CTA{CTALabel: "View Lead", CTALink: "https://us11.leadsquared.com/LeadManagement/LeadDetails?LeadID=4fd84498-d53c-4de5-a540-6ac466a6aa6c"},
		},
		ToUser:         "2f5508b5-f7ed-11ea-b39f-122cab85b441",
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: "ref-1001", InvocationSource: "lsqdispatch"},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("MessageID received:", id != "") // e.g. 3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260
	// Output: MessageID received: true
}

func ExampleClient_SendPush() {
	srv := newExampleServer(25)
	defer srv.Close()
	c := newExampleClient(srv.URL)

	msg, err := c.SendPush(context.Background(), leadsquared.PushNotification{
		UserId:  "3b1041fb-8374-11e7-8758-0a106ee76b21",
		Title:   "Hot lead",
		Content: "Call Jane Doe now: she just opened the pricing page.",
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(msg)
	// Output: Message broadcasted successfully
}

func ExampleClient_CheckKeys() {
	srv := newExampleServer(25)
	defer srv.Close()
	c := newExampleClient(srv.URL)

	u, err := c.CheckKeys(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("keys of an", u.Role) // also u.Name, u.OrgId, and u.APIHost() to pick the region
	// Output: keys of an Administrator
}

// Keys that LeadSquared refuses are KindCredentials: fix the configuration.
func ExampleClient_CheckKeys_refused() {
	srv := newExampleServer(25)
	defer srv.Close()
	c, _ := leadsquared.NewClient(leadsquared.Config{BaseURL: srv.URL, AccessKey: "example-access", SecretKey: "wrong"})

	_, err := c.CheckKeys(context.Background())
	fmt.Println("kind:", leadsquared.Classify(err))
	// Output: kind: credentials
}

// A failed call is an *Error; Classify says what to do about it.
func ExampleClassify() {
	srv := newExampleServer(1) // one call per 5 seconds
	defer srv.Close()
	c := newExampleClient(srv.URL)

	_, _ = c.SendPush(context.Background(), leadsquared.PushNotification{Title: "t", Content: "c"})

	_, err := c.SendPush(context.Background(), leadsquared.PushNotification{Title: "t", Content: "c"})
	fmt.Println("kind:", leadsquared.Classify(err))
	var le *leadsquared.Error
	if errors.As(err, &le) {
		fmt.Println("retry after:", le.RetryAfter)
		fmt.Println("stated limit:", le.Limit)
	}

	// An invalid body is never sent: the error is permanent.
	_, err = c.SendPush(context.Background(), leadsquared.PushNotification{Title: "t"})
	fmt.Println("kind:", leadsquared.Classify(err))
	// Output:
	// kind: rate_limited
	// retry after: 5s
	// stated limit: 1/5s
	// kind: permanent
}

func ExampleSystemNotification_Validate() {
	n := leadsquared.SystemNotification{
		Type:         "Task",
		CardContents: leadsquared.CardContents{CTA: &leadsquared.CTA{CTALabel: "Open", CTALink: "/tasks/7"}},
		ToUser:       "jane",
	}
	var ve *leadsquared.ValidationError
	if errors.As(n.Validate(), &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p.Field)
		}
	}
	// Output:
	// CardContents.Message
	// CardContents.CTA.CTALink
	// ToUser
}

func ExampleRegionHost() {
	for _, region := range []string{"", "us11", "in21"} {
		host, _ := leadsquared.RegionHost(region)
		fmt.Printf("%q: %s\n", region, host)
	}
	_, err := leadsquared.RegionHost("eu1")
	fmt.Println(err)
	// Output:
	// "": api.leadsquared.com
	// "us11": api-us11.leadsquared.com
	// "in21": api-in21.leadsquared.com
	// leadsquared: unknown region "eu1"; valid regions: sg, us11, in21, in22, ir31, ca12
}
