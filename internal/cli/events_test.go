package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/cli"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

var at = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)

// sampleEvents are one of each shape: a delivery, a dead letter of a
// campaign, and a campaign's transition.
var sampleEvents = []tasks.Event{
	{Type: tasks.EventDelivered, At: at, Account: "default", Ref: "lead-42", Kind: tasks.KindSystem, MessageID: "m-1", Attempt: 1},
	{Type: tasks.EventDeadLettered, At: at.Add(time.Second), Account: "eu", Ref: "sig-7", Kind: tasks.KindPush,
		Campaign: "spring", Attempt: 3, Reason: `leadsquared push: HTTP 400: "Title" too long`},
	{Type: tasks.EventCampaignPaused, At: at.Add(2 * time.Second), Account: "eu", Campaign: "spring", Reason: "notifyctl"},
}

func (b *testBundle) appendEvents(t *testing.T, evs ...tasks.Event) {
	t.Helper()
	if err := events.Append(t.Context(), b.rdb, 0, evs...); err != nil {
		t.Fatal(err)
	}
}

func TestRun_Events(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check(t, b.run(t, "", "events"), 0, "", "")
	b.appendEvents(t, sampleEvents...)

	check(t, b.run(t, "", "events"), 0, `2026-12-06T09:30:00Z  delivered           default  ref=lead-42  message_id=m-1  attempt=1
2026-12-06T09:30:01Z  dead_lettered       eu  ref=sig-7  campaign=spring  attempt=3  reason="leadsquared push: HTTP 400: \"Title\" too long"
2026-12-06T09:30:02Z  campaign_paused     eu  campaign=spring  reason="notifyctl"
`, "")
	check(t, b.run(t, "", "events", "--campaign", "spring"), 0, `2026-12-06T09:30:01Z  dead_lettered       eu  ref=sig-7  campaign=spring  attempt=3  reason="leadsquared push: HTTP 400: \"Title\" too long"
2026-12-06T09:30:02Z  campaign_paused     eu  campaign=spring  reason="notifyctl"
`, "")

	got := b.run(t, "", "events", "--json")
	check(t, got, 0, "*", "")
	msgs, err := b.rdb.XRange(t.Context(), keys.Events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
	if len(lines) != len(sampleEvents) {
		t.Fatalf("--json printed %d lines, want %d:\n%s", len(lines), len(sampleEvents), got.stdout)
	}
	for i, line := range lines {
		var ev tasks.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d is not an event: %v\n%s", i+1, err, line)
		}
		want := sampleEvents[i]
		want.ID = msgs[i].ID
		if ev != want {
			t.Errorf("line %d: %+v, want %+v", i+1, ev, want)
		}
	}
	if !strings.HasPrefix(lines[0], `{"id":"`+msgs[0].ID+`","type":"delivered","at":"2026-12-06T09:30:00Z"`) {
		t.Errorf("line 1: %s", lines[0])
	}
}

// --follow prints what is there, then what comes, until interrupted: exit 0.
func TestRun_EventsFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendEvents(t, sampleEvents[0])
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var out, errOut testutil.SyncBuffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "REDIS_URL" {
				return b.redisURL
			}
			return ""
		}}
	code := make(chan int, 1)
	go func() { code <- cli.Run(ctx, []string{"events", "--follow", "--json", "--campaign", "spring"}, env) }()

	b.appendEvents(t, sampleEvents[1:]...)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(out.Lines()) >= 2 }, "followed %q", out.Lines())
	interrupt()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after an interrupt, want 0; stderr:\n%s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("notifyctl events --follow did not end after its context did")
	}
	lines := out.Lines()
	if len(lines) != 2 || !strings.Contains(lines[0], `"type":"dead_lettered"`) || !strings.Contains(lines[1], `"type":"campaign_paused"`) {
		t.Errorf("followed:\n%s", strings.Join(lines, "\n"))
	}
}
