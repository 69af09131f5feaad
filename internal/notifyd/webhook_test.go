package notifyd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// With NOTIFYD_EVENTS_WEBHOOK_URL set, the process posts each event of the
// stream, signed with the secret.
func TestStart_PostsEventsToTheWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec-notifyd-test-0123"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := events.Verify(secret, r.Header.Get(events.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("request for %s: %v", r.Header.Get(events.HeaderEventID), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(body))
	}))
	t.Cleanup(srv.Close)
	b := setup(t, func(c *config.Config) { c.EventsWebhook = config.Webhook{URL: srv.URL, Secret: secret} })

	ev := tasks.Event{Type: tasks.EventDelivered, At: time.Now(), Account: "default", Ref: "lead-42", MessageID: "m-1"}
	if err := events.Append(t.Context(), b.proc.Redis, 0, ev); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	}, "the webhook got no event")
}
