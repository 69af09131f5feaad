package leadsquared_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// The contract tests run against the real LeadSquared, only when asked to.
// They use the same variables as notifyd.
const contractSkip = "contract test against the real LeadSquared: set LSQ_ACCESS_KEY, LSQ_SECRET_KEY and " +
	"LSQ_TEST_USER_ID (a user Id, a GUID; optional: LSQ_REGION or LSQ_API_BASE_URL) to run it. " +
	"It spends a few calls of the account's rate budget and sends a push notification to that user."

// contractClient returns a client for the real LeadSquared and the test
// user's Id, or skips the test.
func contractClient(t *testing.T) (*leadsquared.Client, string) {
	t.Helper()
	access, secret, user := os.Getenv("LSQ_ACCESS_KEY"), os.Getenv("LSQ_SECRET_KEY"), os.Getenv("LSQ_TEST_USER_ID")
	if access == "" || secret == "" || user == "" {
		t.Skip(contractSkip)
	}
	c, err := leadsquared.NewClient(leadsquared.Config{
		Region:                 os.Getenv("LSQ_REGION"),
		BaseURL:                os.Getenv("LSQ_API_BASE_URL"),
		SystemNotificationPath: os.Getenv("LSQ_SYSTEM_NOTIFICATION_PATH"),
		AccessKey:              access,
		SecretKey:              secret,
		Timeout:                20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, user
}

// hostOf returns the host of an API host as LeadSquared reports it, with or
// without a scheme and path ("https://api-in21.leadsquared.com/v2/").
func hostOf(s string) string {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

func TestContract_KeysAndPush(t *testing.T) {
	c, userID := contractClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	u, err := c.CheckKeys(ctx)
	if err != nil {
		t.Fatalf("CheckKeys (kind %s): %v", leadsquared.Classify(err), err)
	}
	t.Logf("keys belong to %q (role %s, org %s); account API host %q", u.Name, u.Role, u.OrgId, u.APIHost())
	if api := hostOf(u.APIHost()); api != "" && api != hostOf(c.BaseURL()) {
		t.Errorf("the account's API host is %s but the client calls %s: set LSQ_REGION (one of %s) or LSQ_API_BASE_URL, "+
			"or every call but the key check will fail", api, c.BaseURL(), strings.Join(leadsquared.Regions(), ", "))
	}

	ref := "lsqdispatch-contract-" + time.Now().UTC().Format("20060102T150405Z")
	msg, err := c.SendPush(leadsquared.WithRequestID(ctx, ref), leadsquared.PushNotification{
		UserId:  userID,
		Title:   "lsqdispatch contract test",
		Content: "A test push from lsqdispatch's contract test (" + ref + "). No action needed.",
	})
	if err != nil {
		t.Fatalf("SendPush to LSQ_TEST_USER_ID (kind %s): %v", leadsquared.Classify(err), err)
	}
	t.Logf("push %s: %q", ref, msg)
}

// TestContract_SystemNotification checks the Converse system notification
// path, which LeadSquared publishes only as an image. It runs only when
// LSQ_SYSTEM_NOTIFICATION_PATH is set as well, because it sends a second
// notification (a Converse card) to the test user.
func TestContract_SystemNotification(t *testing.T) {
	c, userID := contractClient(t)
	if os.Getenv("LSQ_SYSTEM_NOTIFICATION_PATH") == "" {
		t.Skip("set LSQ_SYSTEM_NOTIFICATION_PATH (from the account's API docs) as well to check the system notification path; " +
			"it sends a Converse card to LSQ_TEST_USER_ID")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := "lsqdispatch-contract-" + time.Now().UTC().Format("20060102T150405Z")
	id, err := c.SendSystem(leadsquared.WithRequestID(ctx, ref), leadsquared.SystemNotification{
		Type:           "Task",
		CardContents:   leadsquared.CardContents{Message: "lsqdispatch contract test", Description: "A test card (" + ref + "). No action needed."},
		ToUser:         userID,
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: ref, InvocationSource: "lsqdispatch"},
	})
	if err != nil {
		t.Fatalf("SendSystem (kind %s): %v", leadsquared.Classify(err), err)
	}
	t.Logf("system notification %s: MessageID %q", ref, id)
}
