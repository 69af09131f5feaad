package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lsqdispatch/lsqdispatch/internal/cli"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const guid = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

type testBundle struct {
	redisURL  string
	rdb       *redis.Client
	inspector *asynq.Inspector
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	if os.Getenv("REDIS_URL") != "" {
		t.Skip("needs a private redis-server (its queues are asserted whole); unset REDIS_URL")
	}
	r := testutil.StartRedis(t)
	rdb := r.Client()
	return &testBundle{redisURL: r.URL, rdb: rdb, inspector: asynq.NewInspectorFromRedisClient(rdb)}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs notifyctl in-process with REDIS_URL set to redisURL ("" unset).
func run(t *testing.T, redisURL, stdin string, args ...string) result {
	t.Helper()
	return runEnv(t, redisURL, stdin, false, args...)
}

func runEnv(t *testing.T, redisURL, stdin string, terminal bool, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{
		Terminal: terminal,
		Stdin:    strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "REDIS_URL" {
				return redisURL
			}
			return ""
		},
	}
	code := cli.Run(t.Context(), args, env)
	return result{code, out.String(), errOut.String()}
}

func (b *testBundle) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, b.redisURL, stdin, args...)
}

func check(t *testing.T, got result, code int, stdout, stderr string) {
	t.Helper()
	if got.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got.code, code, got.stdout, got.stderr)
	}
	if stdout != "*" && got.stdout != stdout {
		t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, stdout)
	}
	if stderr != "*" && got.stderr != stderr {
		t.Errorf("stderr:\n%s\nwant:\n%s", got.stderr, stderr)
	}
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func TestRun_UsageAndConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		redisURL string
		args     []string
		code     int
		stderr   []string
	}{
		{"NoArgsShowsHelp", "redis://x", nil, 2, nil},
		{"Help", "", []string{"--help"}, 0, nil},
		{"UnknownCommand", "redis://x", []string{"bogus"}, 2, []string{`unknown command "bogus"`, "notifyctl --help"}},
		{"UnknownFlag", "redis://x", []string{"send", "push", "--bogus"}, 2, []string{"unknown flag: --bogus", "notifyctl send push --help"}},
		{"MissingArg", "redis://x", []string{"status"}, 2, []string{"accepts 1 arg(s)"}},
		{"DLQReplayNeedsIDs", "redis://x", []string{"dlq", "replay"}, 2, []string{"or --all"}},
		{"DLQPurgeNotBoth", "redis://x", []string{"dlq", "purge", "--all", "a:b"}, 2, []string{"not both"}},
		{"NoRedisURL", "", []string{"stats"}, 2, []string{"REDIS_URL is not set: set it to your Redis, e.g. REDIS_URL=redis://127.0.0.1:6379/0"}},
		{"RedisDownPasswordHidden", "redis://:s3cret@127.0.0.1:1/0", []string{"send", "push", "--title", "t", "--content", "c"}, 2,
			[]string{"redis://:xxxxx@127.0.0.1:1/0 does not answer PING"}},
		{"BadRedisURL", "redis://:s3cret@[::1/0", []string{"stats"}, 2, []string{"does not parse"}},
		{"EventsRedisDown", "redis://:s3cret@127.0.0.1:1/0", []string{"events", "--follow"}, 2, []string{"does not answer PING"}},
		{"EventsTakesNoArgs", "redis://x", []string{"events", "spring"}, 2, []string{`unknown command "spring"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, tc.redisURL, "", tc.args...)
			check(t, got, tc.code, "*", "*")
			contains(t, "stderr", got.stderr, tc.stderr...)
			if strings.Contains(got.stderr+got.stdout, "s3cret") {
				t.Errorf("the password shows:\n%s%s", got.stdout, got.stderr)
			}
		})
	}
}

func TestRun_Send(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sys := []string{"send", "system", "--to", guid, "--type", "Lead", "--message", "New lead"}

	check(t, b.run(t, "", append(sys, "--ref", "lead-1", "--description", "d", "--cta-label", "Open", "--cta-link", "https://x.test/1", "--icon-color", "red")...), 0,
		"enqueued: ref lead-1, task default:lead-1, queue transactional, state pending\n", "")
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--ref", "lead-1", "--bulk"), 0,
		"duplicate: ref lead-1 already known (state: pending), task default:lead-1 in queue transactional; nothing was enqueued\n", "")
	check(t, b.run(t, "", "send", "push", "--user", guid, "--title", "T", "--content", "C", "--click-url", "https://x.test",
		"--icon-url", "https://x.test/i.png", "--ref", "p-1", "--account", "eu", "--bulk", "--at", "2099-01-02T03:04:05Z"), 0,
		"enqueued: ref p-1, task eu:p-1, queue bulk, state scheduled for 2099-01-02T03:04:05Z\n", "")

	info, err := b.inspector.GetTaskInfo("transactional", "default:lead-1")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "payload", string(info.Payload), `"CTA":{"CTALabel":"Open","CTALink":"https://x.test/1"}`,
		`"Description":"d"`, `"IconColorCode":"red"`, `"ExternalReferenceId":"lead-1"`)

	got := b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--json")
	var j map[string]any
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || got.code != 0 || j["state"] != "pending" || j["duplicate"] != false || len(j["ref"].(string)) != 36 {
		t.Errorf("--json: %+v (%v)", got, err)
	}

	check(t, b.run(t, "", "send", "system", "--to", "bob", "--message", strings.Repeat("x", 201), "--cta-link", "ftp://x"), 1, "",
		`Type: required [--type]
CardContents.Message: 201 characters, over the limit of 200 [--message]
CardContents.CTA.CTALabel: required [--cta-label]
CardContents.CTA.CTALink: "ftp://x" is not an absolute http or https URL [--cta-link]
ToUser: "bob" is not a GUID (a LeadSquared user Id looks like 2f5508b5-f7ed-11ea-b39f-122cab85b441) [--to]
notifyctl: invalid notification: nothing was enqueued
`)
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--ref", "a\tb", "--account", "a b"), 1, "",
		"ref: contains a control character (tab, newline, …) [--ref]\naccount: \"a b\" is not 1 to 64 of A-Z a-z 0-9 _ . - [--account]\nnotifyctl: invalid notification: nothing was enqueued\n")
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--at", "tomorrow"), 1, "",
		"notifyctl: at: \"tomorrow\" is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z [--at]\n")
	if n := len(b.rdb.Keys(t.Context(), "lsqd:*").Val()); n != 3 {
		t.Errorf("%d refs in Redis, want 3 (invalid sends enqueue nothing)", n)
	}
}

func TestRun_Campaign(t *testing.T) {
	t.Parallel()
	const good = `{"type":"system","ref":"c-1","body":{"Type":"Lead","ToUser":"` + guid + `","CardContents":{"Message":"New lead"}}}
{"type":"push","ref":"c-2","body":{"Title":"Hot lead","Content":"Call now"}}
{"type":"push","ref":"c-2","body":{"Title":"Hot lead","Content":"Call now"}}
`
	const bad = `{"type":"push","ref":"c-3","body":{"title":"Hot lead","Content":"Call now"}}

{"type":"fax","ref":"c-4","body":{}}
`

	t.Run("FromFile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		file := filepath.Join(t.TempDir(), "c.jsonl")
		if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		got := b.run(t, "", "campaign", file, "--name", "spring")
		check(t, got, 0, "*", "")
		contains(t, "stdout", got.stdout, "campaign    spring\n", "lines       3\n", "enqueued    2\n", "duplicates  1\n", "invalid     0\n", "lines/s")
		if info, err := b.inspector.GetTaskInfo("bulk", "default:c-2"); err != nil || !strings.Contains(string(info.Payload), `"campaign":"spring"`) {
			t.Errorf("c-2: %v", err)
		}
		check(t, b.run(t, "", "campaign", filepath.Join(t.TempDir(), "missing.jsonl")), 2, "", "*")
	})

	t.Run("WeightAndGeneratedName", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got := b.run(t, good, "campaign", "-", "--weight", "4")
		check(t, got, 0, "*", "")
		contains(t, "stdout", got.stdout, "campaign    campaign-")
		name := strings.Fields(strings.SplitN(got.stdout, "\n", 2)[0])[1]
		if w, _ := b.rdb.Get(t.Context(), "lsqd:{bulk}:weight:default/"+name).Int(); w != 4 {
			t.Errorf("campaign %s: weight %d in Redis, want 4", name, w)
		}
		check(t, b.run(t, good, "campaign", "-", "--weight", "0"), 1, "",
			"notifyctl: --weight 0: a campaign's weight is from 1 to 1000\n")
	})

	t.Run("ProgressOnATerminal", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got := runEnv(t, b.redisURL, good, true, "campaign", "-")
		check(t, got, 0, "*", "*")
		contains(t, "stderr", got.stderr, "\r\033[Kenqueuing: 0 of 3 (0%), 0 duplicates", "\r\033[K")
		if plain := b.run(t, good, "campaign", "-"); plain.stderr != "" {
			t.Errorf("progress without a terminal: %q", plain.stderr)
		}
	})

	t.Run("InvalidLinesEnqueueNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		check(t, b.run(t, good+bad, "campaign", "-"), 1, "",
			`line 4: body.title: unknown field; the name is "Title" (names are case-sensitive)
line 6: type: "fax" is not "system" or "push"
notifyctl: 2 of 5 lines are invalid; nothing was enqueued (fix them, or use --skip-invalid to enqueue the rest)
`)
		if n := b.rdb.DBSize(t.Context()).Val(); n != 0 {
			t.Errorf("Redis holds %d keys", n)
		}
	})

	t.Run("SkipInvalidJSON", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got := b.run(t, good+bad, "campaign", "-", "--skip-invalid", "--json")
		check(t, got, 1, "*", `line 4: body.title: unknown field; the name is "Title" (names are case-sensitive)
line 6: type: "fax" is not "system" or "push"
notifyctl: 2 of 5 lines are invalid and were skipped
`)
		var j struct {
			Lines, Enqueued, Duplicates, Invalid int
			Problems                             []struct {
				Line          int
				Field, Reason string
			}
		}
		if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || j.Lines != 5 || j.Enqueued != 2 || j.Duplicates != 1 ||
			j.Invalid != 2 || len(j.Problems) != 2 || j.Problems[1].Line != 6 || j.Problems[1].Field != "type" {
			t.Errorf("--json: %+v, %v\n%s", j, err, got.stdout)
		}
	})
}

func TestRun_StatusAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--ref", "r1", "--account", "eu"), 0, "*", "")

	got := b.run(t, "", "status", "r1", "--account", "eu")
	check(t, got, 0, "*", "")
	contains(t, "stdout", got.stdout, "ref       r1\n", "account   eu\n", "task      eu:r1\n", "kind      push\n",
		"queue     transactional\n", "state     pending\n", "attempts  0 failed (of 10 retries)\n")

	got = b.run(t, "", "status", "r1", "--account", "eu", "--json")
	var j map[string]any
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || j["state"] != "pending" || j["task_id"] != "eu:r1" || j["max_retry"] != 10.0 {
		t.Errorf("--json: %v\n%s", err, got.stdout)
	}

	check(t, b.run(t, "", "status", "r1"), 1, "", "notifyctl: not found: ref r1 of account default is not known to Redis\n")
	check(t, b.run(t, "", "cancel", "r1", "--account", "eu"), 0, "cancelled: ref r1 of account eu\n", "")
	check(t, b.run(t, "", "status", "r1", "--account", "eu"), 1, "", "*")
	check(t, b.run(t, "", "cancel", "r1", "--account", "eu"), 1, "", "notifyctl: not found: ref r1 of account eu is not known to Redis\n")
	check(t, b.run(t, "", "status", "x", "--account", "a/b"), 1, "", "account: \"a/b\" is not 1 to 64 of A-Z a-z 0-9 _ . -\nnotifyctl: invalid ref or account\n")
}

func TestRun_Stats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C"), 0, "*", "")
	got := b.run(t, "", "stats")
	check(t, got, 0, "*", "")
	contains(t, "stdout", got.stdout, "QUEUE          SIZE  PENDING", "\ntransactional  1     1 ", "\nbulk           0     0 ", "no account is halted")

	_ = b.rdb.Set(t.Context(), "lsqd:{acme}:halt", "LeadSquared refused the keys (401)", 0).Err()
	got = b.run(t, "", "stats")
	contains(t, "stdout", got.stdout, "halted accounts", "acme     LeadSquared refused the keys (401)")

	got = b.run(t, "", "stats", "--json")
	var j struct {
		Queues []struct {
			Queue   string
			Pending int
		}
		Halted []struct{ Account, Reason string }
	}
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || len(j.Queues) != 2 || j.Queues[0].Pending != 1 || j.Halted[0].Account != "acme" {
		t.Errorf("--json: %+v, %v\n%s", j, err, got.stdout)
	}
}

func TestRun_DLQ(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check(t, b.run(t, "", "dlq", "list", "--json"), 0, "[]\n", "")
	check(t, b.run(t, "", "dlq", "list"), 0, "no dead letters\n", "")
	for _, ref := range []string{"d1", "d2", "d3"} {
		check(t, b.run(t, "", "send", "push", "--title", "Dead "+ref, "--content", "C", "--ref", ref), 0, "*", "")
		if err := b.inspector.ArchiveTask("transactional", "default:"+ref); err != nil {
			t.Fatal(err)
		}
	}
	got := b.run(t, "", "dlq", "list", "--json")
	var dead []map[string]any
	if err := json.Unmarshal([]byte(got.stdout), &dead); err != nil || len(dead) != 3 || dead[0]["kind"] != "push" || dead[0]["queue"] != "transactional" {
		t.Errorf("list --json: %v\n%s", err, got.stdout)
	}
	got = b.run(t, "", "dlq", "list")
	contains(t, "stdout", got.stdout, "ID          QUEUE", "default:d1  transactional  push", "Dead d1")

	check(t, b.run(t, "", "dlq", "replay", "default:d1"), 0, "replayed 1 dead letter\n", "")
	check(t, b.run(t, "", "dlq", "replay", "default:d1", "default:zz"), 1, "replayed 0 dead letters\n",
		`enqueue: replay dead letter "default:d1": not a dead letter: it is pending
enqueue: replay dead letter "default:zz": not found
notifyctl: 2 of the dead letters could not be replayed
`)
	check(t, b.run(t, "", "dlq", "purge", "default:d2"), 0, "purged 1 dead letter\n", "")
	check(t, b.run(t, "", "dlq", "purge", "--all"), 0, "purged 1 dead letter\n", "")
	check(t, b.run(t, "", "dlq", "list", "--json"), 0, "[]\n", "")
	check(t, b.run(t, "", "status", "d3"), 1, "*", "*") // purged: its ref is free
}

// TestBinary runs the built notifyctl as a process, for its exit codes.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds notifyctl")
	}
	t.Parallel()
	b := setup(t)
	bin := filepath.Join(t.TempDir(), "notifyctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/lsqdispatch/lsqdispatch/cmd/notifyctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		env  string
		args []string
		code int
		out  string
	}{
		{"REDIS_URL=" + b.redisURL, []string{"send", "push", "--title", "T", "--content", "C", "--ref", "bin-1"}, 0, "enqueued: ref bin-1"},
		{"REDIS_URL=" + b.redisURL, []string{"send", "push", "--title", "T", "--content", "C", "--ref", "bin-1"}, 0, "duplicate: ref bin-1 already known (state: pending)"},
		{"REDIS_URL=" + b.redisURL, []string{"send", "push", "--content", "C"}, 1, "Title: required"},
		{"REDIS_URL=", []string{"stats"}, 2, "REDIS_URL is not set"},
		{"REDIS_URL=" + b.redisURL, []string{"nope"}, 2, "unknown command"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), tc.env)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("notifyctl %v: exit %d, want %d; output:\n%s", tc.args, code, tc.code, out)
		}
	}
}

// A dead letter asynq dropped past its archive cap stays listed from the
// worker's record, marked, with a note that counts them; purge removes it.
func TestRun_DLQListsDroppedDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	rec := `{"id":"default:gone-1","queue":"bulk","kind":"push","ref":"gone-1","account":"default",` +
		`"reason":"LeadSquared refused the notification: HTTP 400","failed_at":"2026-12-01T10:00:00Z","attempts":0}`
	_ = b.rdb.HSet(ctx, "lsqd:{dlq}:records", "default:gone-1", rec).Err()
	_ = b.rdb.ZAdd(ctx, "lsqd:{dlq}:index", redis.Z{Score: 1, Member: "default:gone-1"}).Err()
	_ = b.rdb.ZAdd(ctx, "lsqd:{dlq}:dropped", redis.Z{Score: 2, Member: "default:gone-1"}).Err()

	got := b.run(t, "", "dlq", "list")
	check(t, got, 0, "*", "")
	contains(t, "stdout", got.stdout, "default:gone-1", "DROPPED by asynq: body gone, ref free",
		"1 dead letter dropped by asynq past its archive cap")
	got = b.run(t, "", "dlq", "list", "--json")
	var dead []map[string]any
	if err := json.Unmarshal([]byte(got.stdout), &dead); err != nil || len(dead) != 1 || dead[0]["dropped"] != true {
		t.Errorf("list --json: %v\n%s", err, got.stdout)
	}
	got = b.run(t, "", "status", "gone-1")
	contains(t, "stdout", got.stdout, "archived", "dropped by asynq past its archive cap")
	check(t, b.run(t, "", "dlq", "replay", "default:gone-1"), 1, "replayed 0 dead letters\n", "*")
	check(t, b.run(t, "", "dlq", "purge", "default:gone-1"), 0, "purged 1 dead letter\n", "")
	check(t, b.run(t, "", "dlq", "list"), 0, "no dead letters\n", "")
}
