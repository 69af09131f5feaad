package enqueue_test

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

const (
	sysLine  = `{"type":"system","ref":"%s","body":{"Type":"Lead","ToUser":"` + guid + `","CardContents":{"Message":"New lead"}}}`
	pushLine = `{"type":"push","ref":"%s","body":{"Title":"Hot lead","Content":"Call now"}}`
)

func lines(ls ...string) io.Reader { return strings.NewReader(strings.Join(ls, "\n") + "\n") }

func problems(rep enqueue.CampaignReport) string {
	var sb strings.Builder
	for _, p := range rep.Problems {
		sb.WriteString(p.Error() + "\n")
	}
	return sb.String()
}

func TestClient_Campaign(t *testing.T) {
	t.Parallel()

	t.Run("EnqueuesToBulk", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		rep, err := b.client.Campaign(b.ctx, lines(
			fmt.Sprintf(sysLine, "s1"),
			"",
			fmt.Sprintf(pushLine, "p1"),
			`{"type":"push","ref":"p2","account":"eu","at":"`+at.Format(time.RFC3339)+`","body":{"Title":"t","Content":"c"}}`,
			"   ",
		), enqueue.CampaignOptions{Name: "spring"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Lines != 3 || rep.Valid != 3 || rep.Enqueued != 3 || rep.Duplicates != 0 || rep.Invalid != 0 || !rep.Checked || rep.Name != "spring" {
			t.Errorf("report %+v", rep)
		}
		p := decodeSystem(t, b.task(t, "bulk", "default", "s1").Payload)
		if p.Lane != tasks.LaneBulk || p.Campaign != "spring" || p.Body.ExternalSource.ExternalReferenceId != "s1" {
			t.Errorf("s1: %+v", p)
		}
		if info := b.task(t, "bulk", "eu", "p2"); info.State.String() != "scheduled" || !info.NextProcessAt.Equal(at) {
			t.Errorf("p2: %s at %s, want scheduled at %s", info.State, info.NextProcessAt, at)
		}
		if n := b.taskCount(t, "transactional"); n != 0 {
			t.Errorf("%d transactional tasks", n)
		}
		if v, ttl := b.entry(t, "eu", "p2"); v != "bulk" || ttl != -1 {
			t.Errorf("entry %q %s", v, ttl)
		}
	})

	t.Run("ReportsEveryBadLineAndEnqueuesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rep, err := b.client.Campaign(b.ctx, lines(
			fmt.Sprintf(sysLine, "ok-1"),
			`{"type":"system","ref":"a","body":{"Type":"Lead","ToUser":"`+guid+`","CardContents":{"message":"hi"}}}`,
			`{"type":"fax","ref":"b","body":{}}`,
			`{"type":"push","body":{"Title":"t","Content":"c"},"extra":1}`,
			`{"type":"push","ref":"c","body":{"Title":"t","Content":"c"}`,
			"\xff\xfe",
			`{"type":"push","ref":"d","at":"tomorrow","body":{"Title":"","Content":"c","ClickURL":"nope"}}`,
			`["not","an","object"]`,
			`{"type":"system","ref":"e","body":{"Type":"Lead","ToUser":"bob","CardContents":{"Message":7}}}`,
			fmt.Sprintf(pushLine, "ok-2"),
		), enqueue.CampaignOptions{})
		if !errors.Is(err, enqueue.ErrInvalidCampaign) {
			t.Fatalf("err = %v, want ErrInvalidCampaign", err)
		}
		want := `line 2: body.CardContents.message: unknown field; the name is "Message" (names are case-sensitive)
line 3: type: "fax" is not "system" or "push"
line 4: extra: unknown field
line 4: ref: required: the notification's unique id, e.g. lead-42
line 5: json: invalid JSON at column 59: unexpected end of JSON input
line 6: line: not valid UTF-8 (first bad byte at column 1)
line 7: at: "tomorrow" is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z
line 7: body.Title: required
line 7: body.ClickURL: "nope" is not an absolute http or https URL
line 8: line: must be a JSON object, e.g. {"type":"system","ref":"lead-42","body":{…}}
line 9: body.CardContents.Message: must be a string, not a number
`
		if got := problems(rep); got != want {
			t.Errorf("problems:\n%s\nwant:\n%s", got, want)
		}
		if rep.Lines != 10 || rep.Valid != 2 || rep.Invalid != 8 || rep.Enqueued != 0 || rep.ProblemCount != 11 {
			t.Errorf("report %+v", rep)
		}
		if n := b.rdb.DBSize(b.ctx).Val(); n != 0 {
			t.Errorf("Redis holds %d keys, want none", n)
		}
	})

	t.Run("SkipInvalidEnqueuesTheRest", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rep, err := b.client.Campaign(b.ctx, lines(
			fmt.Sprintf(sysLine, "a"),
			`{"type":"push","ref":"b","body":{"Title":"t"}}`,
			fmt.Sprintf(pushLine, "c"),
		), enqueue.CampaignOptions{SkipInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Enqueued != 2 || rep.Invalid != 1 || problems(rep) != "line 2: body.Content: required\n" {
			t.Errorf("report %+v", rep)
		}
		b.task(t, "bulk", "default", "a")
		b.task(t, "bulk", "default", "c")
	})

	t.Run("DuplicatesInFileAndRedis", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.client.SendSystem(b.ctx, systemBody("x"), enqueue.WithRef("known")); err != nil {
			t.Fatal(err)
		}
		var ls []string
		for i := range 1200 { // crosses batches
			ls = append(ls, fmt.Sprintf(pushLine, fmt.Sprint("r", i%1000)))
		}
		ls = append(ls, fmt.Sprintf(sysLine, "known"))
		rep, err := b.client.Campaign(b.ctx, lines(ls...), enqueue.CampaignOptions{BatchSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Enqueued != 1000 || rep.Duplicates != 201 {
			t.Errorf("report %+v; want 1000 enqueued, 201 duplicates", rep)
		}
		again, err := b.client.Campaign(b.ctx, lines(ls...), enqueue.CampaignOptions{})
		if err != nil || again.Enqueued != 0 || again.Duplicates != 1201 {
			t.Errorf("run again: %+v, %v; want every line a duplicate", again, err)
		}
		if n := b.taskCount(t, "bulk"); n != 1000 {
			t.Errorf("%d bulk tasks, want 1000", n)
		}
	})

	t.Run("LongLinesBlankLinesCRLFAndBOM", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		long := `{"type":"push","ref":"big","body":{"Title":"` + strings.Repeat("x", enqueue.MaxLineBytes) + `","Content":"c"}}`
		in := "\xef\xbb\xbf" + fmt.Sprintf(pushLine, "a") + "\r\n\r\n" + long + "\n" + fmt.Sprintf(pushLine, "b")
		rep, err := b.client.Campaign(b.ctx, strings.NewReader(in), enqueue.CampaignOptions{SkipInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := problems(rep); got != "line 3: line: longer than 1048576 bytes (1 MiB)\n" || rep.Enqueued != 2 || rep.Lines != 3 {
			t.Errorf("report %+v\n%s", rep, got)
		}
	})

	t.Run("KeepsAThousandProblemsCountsAll", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rep, err := b.client.Campaign(b.ctx, strings.NewReader(strings.Repeat("{}\n", 1500)), enqueue.CampaignOptions{})
		if !errors.Is(err, enqueue.ErrInvalidCampaign) || len(rep.Problems) != enqueue.MaxProblems || rep.ProblemCount != 4500 || rep.Invalid != 1500 {
			t.Errorf("%d problems kept, %d counted, %d invalid (%v)", len(rep.Problems), rep.ProblemCount, rep.Invalid, err)
		}
	})

	t.Run("BadOptions", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.Campaign(b.ctx, lines(), enqueue.CampaignOptions{BatchSize: -1, Concurrency: 1000, Account: "a b"})
		if err == nil || !strings.Contains(err.Error(), "BatchSize: -1 is not from 1 to 10000") ||
			!strings.Contains(err.Error(), "Concurrency: 1000") || !strings.Contains(err.Error(), "Account:") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("RedisDown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.redis.Stop()
		rep, err := b.client.Campaign(b.ctx, lines(fmt.Sprintf(pushLine, "a")), enqueue.CampaignOptions{})
		if err == nil || !strings.Contains(err.Error(), "campaign stopped after 0 enqueued") || rep.Enqueued != 0 {
			t.Errorf("campaign with Redis down: %+v, %v", rep, err)
		}
	})

	t.Run("Progress", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var calls []enqueue.CampaignReport
		var ls []string
		for i := range 25 {
			ls = append(ls, fmt.Sprintf(pushLine, fmt.Sprint(i)))
		}
		_, err := b.client.Campaign(b.ctx, lines(ls...), enqueue.CampaignOptions{BatchSize: 10,
			Progress: func(r enqueue.CampaignReport) { calls = append(calls, r) }})
		if err != nil {
			t.Fatal(err)
		}
		var enq []int
		for _, c := range calls {
			if c.Checked {
				enq = append(enq, c.Enqueued)
			}
		}
		if fmt.Sprint(enq) != "[0 10 20 25]" {
			t.Errorf("progress after check: %v, want [0 10 20 25]", enq)
		}
	})
}

// TestClient_CampaignMemory streams 100,000 lines through a campaign and
// checks that the heap does not grow with the input.
func TestClient_CampaignMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100,000 lines")
	}
	t.Parallel()
	b := setup(t)
	peak := func(n int) uint64 {
		runtime.GC()
		var peak uint64
		var ms runtime.MemStats
		rep, err := b.client.Campaign(b.ctx, newCampaignLines(fmt.Sprint("m", n), n), enqueue.CampaignOptions{
			BatchSize: 1000,
			Progress: func(enqueue.CampaignReport) {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			},
		})
		if err != nil || rep.Enqueued != n {
			t.Fatalf("campaign of %d: %+v, %v", n, rep, err)
		}
		return peak
	}
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	small, large := peak(n/10), peak(n)
	t.Logf("peak heap in use: %.1f MiB for %d lines, %.1f MiB for %d lines", float64(small)/(1<<20), n/10, float64(large)/(1<<20), n)
	if large > 2*small+16<<20 {
		t.Errorf("heap grows with the input: %d bytes for %d lines, %d for %d", small, n/10, large, n)
	}
}

func TestClient_Campaign_GroupsAndWeights(t *testing.T) {
	t.Parallel()

	t.Run("EachLineWaitsInItsCampaignGroup", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rep, err := b.client.Campaign(b.ctx, lines(fmt.Sprintf(sysLine, "g1"),
			`{"type":"push","ref":"g2","account":"eu","body":{"Title":"t","Content":"c"}}`),
			enqueue.CampaignOptions{Weight: 3})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rep.Name, "campaign-") {
			t.Fatalf("unnamed campaign got the name %q, want a generated campaign-…", rep.Name)
		}
		for _, acct := range []string{"default", "eu"} {
			group := tasks.Group(acct, rep.Name)
			if w, _ := b.rdb.Get(b.ctx, "lsqd:{bulk}:weight:"+group).Int(); w != 3 {
				t.Errorf("group %s: weight %d, want 3", group, w)
			}
		}
		if info := b.task(t, "bulk", "eu", "g2"); info.State.String() != "aggregating" || info.Group != tasks.Group("eu", rep.Name) {
			t.Errorf("g2: %s in group %q, want waiting in its campaign's group", info.State, info.Group)
		}
		st, err := b.client.Status(b.ctx, "default", "g1")
		if err != nil || st.State != "pending" {
			t.Errorf("status of a line in its group: %+v, %v; want pending", st, err)
		}
	})
	t.Run("WeightOutOfRange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.Campaign(b.ctx, lines(fmt.Sprintf(sysLine, "w1")), enqueue.CampaignOptions{Weight: 1001})
		if err == nil || !strings.Contains(err.Error(), "Weight") || !strings.Contains(err.Error(), "1000") {
			t.Fatalf("weight 1001: %v, want an error naming Weight and its limit", err)
		}
	})
	t.Run("SendWeightNeedsABulkCampaign", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.SendPush(b.ctx, pushBody("x"), enqueue.WithWeight(2))
		if err == nil || !strings.Contains(err.Error(), "weight") {
			t.Fatalf("a weight without a bulk campaign: %v, want an error naming weight", err)
		}
	})
}

func TestClient_Expiry(t *testing.T) {
	t.Parallel()

	t.Run("RecordedInThePayload", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		exp := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
		if _, err := b.client.SendPush(b.ctx, pushBody("Call in 10 min"), enqueue.WithRef("e1"), enqueue.ExpiresAt(exp)); err != nil {
			t.Fatal(err)
		}
		st, err := b.client.Status(b.ctx, "default", "e1")
		if err != nil || st.ExpiresAt == nil || !st.ExpiresAt.Equal(exp) {
			t.Fatalf("status %+v, %v; want expires_at %s", st, err, exp)
		}
	})
	t.Run("BeforeItIsDueIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.SendPush(b.ctx, pushBody("x"), enqueue.In(time.Hour), enqueue.ExpiresIn(time.Minute))
		if err == nil || !strings.Contains(err.Error(), "expires_at") || !strings.Contains(err.Error(), "never be sent") {
			t.Fatalf("expiry before the scheduled time: %v, want an error naming expires_at", err)
		}
	})
	t.Run("CampaignLines", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		rep, err := b.client.Campaign(b.ctx, lines(
			`{"type":"push","ref":"l1","expires_at":"`+soon+`","body":{"Title":"t","Content":"c"}}`,
			`{"type":"push","ref":"l2","expires_at":"`+past+`","body":{"Title":"t","Content":"c"}}`,
			`{"type":"push","ref":"l3","expires_at":"tomorrow","body":{"Title":"t","Content":"c"}}`,
			fmt.Sprintf(pushLine, "l4"),
		), enqueue.CampaignOptions{ExpiresAt: time.Now().Add(2 * time.Hour)})
		if !errors.Is(err, enqueue.ErrInvalidCampaign) {
			t.Fatalf("campaign: %v, want ErrInvalidCampaign", err)
		}
		got := problems(rep)
		if !strings.Contains(got, "line 2: expires_at: ") || !strings.Contains(got, "never be sent") ||
			!strings.Contains(got, `line 3: expires_at: "tomorrow" is not an RFC 3339 time`) || rep.Invalid != 2 {
			t.Fatalf("problems:\n%s", got)
		}
		if _, err := b.client.Campaign(b.ctx, lines(fmt.Sprintf(pushLine, "l5")), enqueue.CampaignOptions{ExpiresAt: time.Now().Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if st, err := b.client.Status(b.ctx, "default", "l5"); err != nil || st.ExpiresAt == nil {
			t.Fatalf("l5: %+v, %v; want the campaign's expiry", st, err)
		}
	})
}
