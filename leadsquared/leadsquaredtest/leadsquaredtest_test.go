package leadsquaredtest_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
)

const user = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

// fullSystem sets every field of a system notification, so that the strict
// sandbox checks every name the client sends.
func fullSystem(ref string) leadsquared.SystemNotification {
	return leadsquared.SystemNotification{
		Type: "Lead",
		CardContents: leadsquared.CardContents{
			Message:       "New lead assigned",
			Description:   "Lead submitted the form in our campaign page.",
			CTA:           &leadsquared.CTA{CTALabel: "View Lead", CTALink: "https://us11.leadsquared.com/LeadManagement/LeadDetails?LeadID=4fd84498-d53c-4de5-a540-6ac466a6aa6c&pageNumber=1"},
			IconColorCode: "rgb(247, 79, 103, 0.9)",
		},
		ToUser:         user,
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: ref, InvocationSource: "Platform"},
	}
}

var fullPush = leadsquared.PushNotification{
	UserId: user, Title: "LeadSquared Signals", Content: "You may want to call this lead while it remains hot!",
	ClickURL: "https://example.com/lead/1", IconURL: "https://example.com/icon.png",
}

type testBundle struct {
	srv    *leadsquaredtest.Server
	client *leadsquared.Client
}

func setup(t *testing.T, cfg leadsquaredtest.Config, opts ...func(*leadsquared.Config)) *testBundle {
	t.Helper()
	srv := leadsquaredtest.Start(t, cfg)
	c, err := srv.Client(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{srv: srv, client: c}
}

func wantKind(t *testing.T, what string, err error, kind leadsquared.Kind) *leadsquared.Error {
	t.Helper()
	var le *leadsquared.Error
	if !errors.As(err, &le) || le.Kind != kind {
		t.Fatalf("%s: error %v, want a %s *leadsquared.Error", what, err, kind)
	}
	return le
}

func TestServer_Client(t *testing.T) {
	t.Parallel()

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{})
		ctx := context.Background()
		id, err := b.client.SendSystem(ctx, fullSystem("ref-1"))
		if err != nil || !regexp.MustCompile(`^[0-9a-f-]{36}_\d{13}$`).MatchString(id) {
			t.Fatalf("SendSystem: %q, %v", id, err)
		}
		msg, err := b.client.SendPush(leadsquared.WithRequestID(ctx, "ref-2"), fullPush)
		if err != nil || msg != "Message broadcasted successfully" {
			t.Fatalf("SendPush: %q, %v", msg, err)
		}
		u, err := b.client.CheckKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if host := strings.TrimPrefix(b.srv.URL, "http://"); u.APIHost() != host || u.Role != "Administrator" || u.Id == "" {
			t.Fatalf("user %+v, want API host %s", u, host)
		}
		st := b.srv.Stats()
		if st.Accepted != 2 || st.PerRef["ref-1"] != 1 || st.PerRef["ref-2"] != 1 || st.Total != 3 {
			t.Fatalf("stats %+v", st)
		}
		calls := b.srv.Calls()
		if calls[0].MessageID != id || calls[1].User != user {
			t.Fatalf("calls %+v", calls)
		}
	})

	t.Run("GeneratedKeysAreRequired", func(t *testing.T) {
		t.Parallel()
		srv := leadsquaredtest.Start(t, leadsquaredtest.Config{})
		if !strings.HasPrefix(srv.AccessKey, "u$r") || len(srv.SecretKey) != 40 {
			t.Fatalf("generated keys look wrong: access %d bytes, secret %d bytes", len(srv.AccessKey), len(srv.SecretKey))
		}
		c, err := srv.Client(func(c *leadsquared.Config) { c.SecretKey = "not-the-secret" })
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendPush(context.Background(), fullPush)
		le := wantKind(t, "other keys", err, leadsquared.KindCredentials)
		if le.StatusCode != 401 || le.ExceptionType != "MXUnAuthorizedAccessException" {
			t.Fatalf("error %+v", le)
		}
	})

	t.Run("ChosenKeysAndSystemPath", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{AccessKey: "ak", SecretKey: "sk", SystemPath: "/v2/Other.svc/Send"})
		if _, err := b.client.SendSystem(context.Background(), fullSystem("r")); err != nil {
			t.Fatal(err)
		}
		if c := b.srv.Calls()[0]; c.Path != "/v2/Other.svc/Send" {
			t.Fatalf("path %s", c.Path)
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{Limit: 1, Faults: leadsquaredtest.Faults{RetryAfter: 4 * time.Second}})
		ctx := context.Background()
		if _, err := b.client.SendPush(ctx, fullPush); err != nil {
			t.Fatal(err)
		}
		_, err := b.client.SendPush(ctx, fullPush)
		le := wantKind(t, "second push", err, leadsquared.KindRateLimited)
		if le.StatusCode != 429 || le.Limit == nil || *le.Limit != (leadsquared.Limit{Calls: 1, Window: 5 * time.Second}) || le.RetryAfter != 4*time.Second {
			t.Fatalf("error %+v, want 429 with Limit 1/5s and RetryAfter 4s", le)
		}
	})

	t.Run("RateLimitedAs200", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{Limit: 1, LimitAs200: true})
		ctx := context.Background()
		_, _ = b.client.SendSystem(ctx, fullSystem("a"))
		_, err := b.client.SendSystem(ctx, fullSystem("b"))
		le := wantKind(t, "second system", err, leadsquared.KindRateLimited)
		if le.StatusCode != 200 || le.Limit == nil || le.Limit.Calls != 1 {
			t.Fatalf("error %+v, want HTTP 200 carrying the limit", le)
		}
	})

	t.Run("DailyCap", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{DailyCap: 1})
		_, _ = b.client.SendPush(context.Background(), fullPush)
		_, err := b.client.SendPush(context.Background(), fullPush)
		le := wantKind(t, "over the daily cap", err, leadsquared.KindRateLimited)
		if le.Limit != nil || !strings.Contains(le.ExceptionMessage, "daily limit of 1") {
			t.Fatalf("error %+v: the daily cap must not read as a window limit", le)
		}
	})

	t.Run("Faults", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{})
		ctx := context.Background()
		for _, tc := range []struct {
			faults leadsquaredtest.Faults
			kind   leadsquared.Kind
			status int
		}{
			{leadsquaredtest.Faults{ErrorRate: 1}, leadsquared.KindTransient, 500},
			{leadsquaredtest.Faults{Outage: true}, leadsquared.KindTransient, 503},
			{leadsquaredtest.Faults{Burst429: 1}, leadsquared.KindRateLimited, 429},
			{leadsquaredtest.Faults{Scripts: []leadsquaredtest.Script{{Ref: "r", FirstN: 1, Status: 400}}}, leadsquared.KindPermanent, 400},
			{leadsquaredtest.Faults{Scripts: []leadsquaredtest.Script{{Ref: "r", FirstN: 1, Status: 401}}}, leadsquared.KindCredentials, 401},
		} {
			if err := b.srv.SetFaults(tc.faults); err != nil {
				t.Fatal(err)
			}
			_, err := b.client.SendSystem(ctx, fullSystem("r"))
			if le := wantKind(t, "faults", err, tc.kind); le.StatusCode != tc.status {
				t.Fatalf("faults %+v: HTTP %d, want %d", tc.faults, le.StatusCode, tc.status)
			}
		}
	})

	t.Run("HeldCallTimesOut", func(t *testing.T) {
		t.Parallel()
		b := setup(t, leadsquaredtest.Config{Faults: leadsquaredtest.Faults{TimeoutRate: 1}})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := b.client.SendPush(leadsquared.WithRequestID(ctx, "held"), fullPush)
			errc <- err
		}()
		testutil.Eventually(t, 5*time.Second, func() bool { return b.srv.Stats().Held == 1 }, "the push is held")
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return b.srv.Stats().Abandoned == 1 }, "the push is abandoned")
		if st := b.srv.Stats(); st.PerRef["held"] != 1 {
			t.Fatalf("stats %+v: the held push was delivered", st)
		}
	})

	t.Run("KeysStayOutOfTheURL", func(t *testing.T) {
		t.Parallel()
		srv := leadsquaredtest.Start(t, leadsquaredtest.Config{})
		u, err := url.Parse(srv.URL)
		if err != nil || u.RawQuery != "" || u.User != nil {
			t.Fatalf("URL %q", srv.URL)
		}
	})
}

func TestStart_InvalidConfig(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("NewServer accepted an invalid config")
		}
	}()
	leadsquaredtest.NewServer(leadsquaredtest.Config{AccessKey: "only-one"})
}
