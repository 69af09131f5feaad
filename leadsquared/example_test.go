package leadsquared_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// fakeLeadSquared stands in for LeadSquared: it answers the three APIs the
// way LeadSquared's docs show, and refuses every call after the first
// `allowed` with its rate-limit answer.
func fakeLeadSquared(allowed int32) *httptest.Server {
	var calls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get(leadsquared.SecretKeyHeader) != "example-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if calls.Add(1) > allowed {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"Status":"Error","ExceptionType":"MXAPIRateLimitExceededException","ExceptionMessage":"API calls exceeded the limit of 25 in 5 second(s)"}`)
			return
		}
		switch r.URL.Path {
		case leadsquared.DefaultSystemNotificationPath:
			io.WriteString(w, `{"MessageID":"3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260","Success":true}`)
		case leadsquared.PushPath:
			io.WriteString(w, `{"Status":"Success","Message":{"Message":"Message broadcasted successfully"}}`)
		case leadsquared.KeyCheckPath:
			io.WriteString(w, `{"Id":"1a50c565-8525-11ea-a93b-0aa4c559f4ca","Name":"Yogesh","Role":"Administrator",`+
				`"OrgId":"3b1041a3-8374-11e7-8758-0a106ee76b21","LSQCommonServiceURLs":{"api":"api-in21.leadsquared.com"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
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
	srv := fakeLeadSquared(10)
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
	fmt.Println("MessageID:", id)
	// Output: MessageID: 3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260
}

func ExampleClient_SendPush() {
	srv := fakeLeadSquared(10)
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
	srv := fakeLeadSquared(10)
	defer srv.Close()
	c := newExampleClient(srv.URL)

	u, err := c.CheckKeys(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("keys of %s (%s); account API host %s\n", u.Name, u.Role, u.APIHost())
	// Output: keys of Yogesh (Administrator); account API host api-in21.leadsquared.com
}

// A failed call is an *Error; Classify says what to do about it.
func ExampleClassify() {
	srv := fakeLeadSquared(0) // every call is over the limit
	defer srv.Close()
	c := newExampleClient(srv.URL)

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
	// stated limit: 25/5s
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
