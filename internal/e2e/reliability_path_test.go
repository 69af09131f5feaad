package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// realSystemPath is the account's real system notification path in this
// test: notifyd keeps the default, a placeholder, so every system
// notification meets a 404, as on a first day with
// LSQ_SYSTEM_NOTIFICATION_PATH unset.
const realSystemPath = "/v2/Converse.svc/SystemNotification.Real"

// TestReliability_WrongSystemPath drains a mixed campaign while notifyd's
// system notification path is wrong. Only system notifications halt: every
// push is delivered at the limiter's full pace, the system notifications
// wait (no retry spent, nothing archived, no slot taken), the halt is
// logged once in all, and /readyz and lsqd_operation_halted name the kind.
// The long variant runs past two of the 30 s probes, which find the path
// still wrong without resuming (no flapping).
func TestReliability_WrongSystemPath(t *testing.T) {
	t.Parallel()
	pushes, systems := 240, 48
	if longRun() {
		pushes, systems = 1500, 300
	}
	s := startStack(t, stackConfig{SandboxArgs: []string{"--system-path", realSystemPath}})

	var lines bytes.Buffer
	var pushRefs, sysRefs []string
	for i := range pushes + systems {
		ref := "path-" + strconv.Itoa(i)
		if i%6 == 0 { // one line in six is a system notification
			sysRefs = append(sysRefs, ref)
			fmt.Fprintf(&lines, `{"type":"system","ref":%q,"body":{"Type":"Lead","CardContents":{"Message":"New lead %d"},"ToUser":%q}}`+"\n", ref, i, guid(i))
		} else {
			pushRefs = append(pushRefs, ref)
			fmt.Fprintf(&lines, `{"type":"push","ref":%q,"body":{"UserId":%q,"Title":"Hot lead %d","Content":"Call now"}}`+"\n", ref, guid(i), i)
		}
	}
	rep, err := s.enq.Campaign(context.Background(), &lines, enqueue.CampaignOptions{Name: "path", TempDir: t.TempDir()})
	if err != nil || rep.Enqueued != pushes+systems {
		t.Fatalf("campaign: enqueued %d of %d: %v", rep.Enqueued, pushes+systems, err)
	}
	st := s.waitDelivered(t, pushRefs, 4*time.Minute)

	// The pushes' pace, from the first delivered push to the last.
	var at []time.Time
	for _, c := range s.calls(t) {
		if c.Kind == "push" && c.Accepted {
			at = append(at, c.Time)
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	span := at[len(at)-1].Sub(at[0])
	rate := float64(len(at)-1) / span.Seconds()
	ratio := rate / relRate()

	probes := func() int { // the probe carries no ref; a task's call does
		var calls []struct {
			Path, Ref string
		}
		getJSON(t, s.sbURL+"/_sandbox/calls", &calls)
		n := 0
		for _, c := range calls {
			if c.Path == leadsquared.DefaultSystemNotificationPath && c.Ref == "" {
				n++
			}
		}
		return n
	}
	if longRun() {
		// Two probes (every 30 s, one process at a time) find the path
		// still wrong: the kind stays halted, nothing flaps.
		testutil.Eventually(t, 2*time.Minute, func() bool { return probes() >= 2 }, "the wrong path was never probed twice")
	}
	st = s.stats(t)
	var sysDelivered, wrongPathCalls int
	for _, r := range sysRefs {
		sysDelivered += st.PerRef[r]
	}
	for _, c := range s.calls(t) {
		if c.Status == 404 {
			wrongPathCalls++
		}
	}
	halts := 0
	for _, w := range s.workers {
		halts += strings.Count(w.out.String(), "dispatch of system notifications halted")
	}
	t.Logf("wrong system path: %d pushes delivered in %.1fs, %.2f/s = %.3f of the limiter's pace (%.2f/s; %.3f of the sandbox's raw %d/%s); "+
		"%d of %d system notifications delivered; %d calls answered 404 (%d of them probes); %d halt lines; duplicates %d; max in window %d; 429s %d",
		len(at), span.Seconds(), rate, ratio, relRate(), rate/(float64(relLimit)/relWindow.Seconds()), relLimit, relWindow,
		sysDelivered, len(sysRefs), wrongPathCalls, probes(), halts, len(st.DuplicateRefs), st.MaxInWindow, st.RateLimited)

	if ratio < 0.95 {
		t.Errorf("pushes flowed at %.3f of the limit, want at least 0.95", ratio)
	}
	if sysDelivered != 0 {
		t.Errorf("%d system notifications delivered through a wrong path", sysDelivered)
	}
	if halts != 1 {
		t.Errorf("the halt was logged %d times, want once", halts)
	}
	// At most the calls in flight in each process before it learnt of the
	// halt, and the probes.
	if maxCalls := 2*s.cfg.Concurrency + 8; wrongPathCalls > maxCalls {
		t.Errorf("%d calls answered 404, want at most %d", wrongPathCalls, maxCalls)
	}
	for _, ref := range sysRefs {
		info, err := s.insp.GetTaskInfo(string(tasks.LaneBulk), tasks.TaskID(tasks.DefaultAccount, ref))
		if err != nil {
			t.Fatalf("system task %s: %v", ref, err)
		}
		if info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted || info.Retried != 0 {
			t.Errorf("held system task %s: %s, retried %d; want waiting, no retry spent", ref, info.State, info.Retried)
		}
	}
	if dead := s.deadRefs(t); len(dead) > 0 {
		t.Errorf("dead letters %v", dead)
	}
	s.checkLimitHeld(t, st)

	// Readiness and the metric name the kind, in every process (one that
	// met no 404 itself learns of the halt at its next check, within 30 s).
	for i, w := range s.workers {
		var body string
		testutil.Eventually(t, 35*time.Second, func() bool {
			code, b := get(w.http + "/readyz")
			body = b
			return code == 503 && strings.Contains(b, `"halted_kinds":{"default":{"system":`)
		}, "notifyd %d /readyz does not name the halted kind: %s", i, body)
		var ready map[string]any
		if err := json.Unmarshal([]byte(body), &ready); err != nil || ready["halted_accounts"] != nil {
			t.Errorf("notifyd %d /readyz: %s (%v): want only the kind halted", i, body, err)
		}
		_, metrics := get(w.http + "/metrics")
		for _, want := range []string{`lsqd_operation_halted{account="default",kind="system"} 1`,
			`lsqd_operation_halted{account="default",kind="push"} 0`, `lsqd_account_halted{account="default"} 0`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("notifyd %d /metrics lacks %s", i, want)
			}
		}
	}
}

// get returns the status and body of a GET, or 0 when it fails.
func get(url string) (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
