package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// webhookReceiver records the events POSTed to it and checks each one's
// signature: X-Lsqd-Signature "t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>".
type webhookReceiver struct {
	secret string
	mu     sync.Mutex
	seen   map[string]int // event ID -> deliveries
	events []tasks.Event
	bad    []string
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !validSignature(w.secret, r.Header.Get("X-Lsqd-Signature"), body) {
		w.bad = append(w.bad, r.Header.Get("X-Lsqd-Signature")+" "+string(body))
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev tasks.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		w.bad = append(w.bad, "undecodable: "+string(body))
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	if w.seen[ev.ID]++; w.seen[ev.ID] == 1 {
		w.events = append(w.events, ev)
	}
	rw.WriteHeader(http.StatusNoContent)
}

func validSignature(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || sig == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

func (w *webhookReceiver) count(typ tasks.EventType) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// A campaign's events reach the webhook of 3 notifyd processes once each,
// signed, with a delivered event for each delivered ref; the secret never
// appears in their logs.
func TestEvents_WebhookOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	const secret = "whsec-e2e-3f9a51c07d2b"
	recv := &webhookReceiver{secret: secret, seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	s := startSchedStack(t, 25, 5*time.Second)
	s.env = append(s.env, "NOTIFYD_EVENTS_WEBHOOK_URL="+srv.URL+"/hooks/lsq", "NOTIFYD_EVENTS_WEBHOOK_SECRET="+secret, "LOG_LEVEL=debug")
	for range 3 {
		s.startNotifyd(t, 6)
	}
	const n = 30
	s.campaign(t, "", "hooked", "H-", n)
	testutil.Eventually(t, 40*time.Second, func() bool {
		return recv.count(tasks.EventCampaignCompleted) == 1 && recv.count(tasks.EventDelivered) == n
	}, "the campaign's %d delivered events and its completion at the webhook", n)
	time.Sleep(2 * time.Second) // a duplicate would come within the redelivery time

	recv.mu.Lock()
	defer recv.mu.Unlock()
	dups := 0
	for _, c := range recv.seen {
		dups += c - 1
	}
	refs := map[string]bool{}
	for _, ev := range recv.events {
		if ev.Type == tasks.EventDelivered {
			refs[ev.Ref] = true
		}
	}
	t.Logf("webhook: %d events, %d delivered more than once, %d with a bad signature, %d delivered refs",
		len(recv.events), dups, len(recv.bad), len(refs))
	if dups != 0 || len(recv.bad) != 0 || len(refs) != n {
		t.Errorf("events delivered twice %d, bad %v, delivered refs %d: want each event once, signed, every ref", dups, recv.bad, len(refs))
	}
	for _, w := range s.workers {
		if strings.Contains(w.proc.out.String(), secret) {
			t.Errorf("notifyd's log holds the webhook secret")
		}
	}
}
