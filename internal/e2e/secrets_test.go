package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// TestSecrets_NeverLeak drains a small campaign through the processes with
// distinctive keys, then goes through the error paths (a refused secret key,
// a 400, a 500, Redis down), and looks for the keys everywhere they could
// end up: every Redis key and value (by type, and DUMP's raw bytes), every
// log line of notifyd at debug level, every output of notifyctl and
// `notifyd check`, lsq-sandbox's call log, /_sandbox/calls and stats, and
// notifyd's HTTP answers (/readyz, /metrics, the monitoring UI's API). It
// looks for each key raw, in hex and in base64 at every alignment.
func TestSecrets_NeverLeak(t *testing.T) {
	t.Parallel()
	const wrong = "e2e-secrets-wrong-secret-8d3a"
	s := startStack(t, stackConfig{Workers: 1, Concurrency: 4, Redis: []testutil.RedisOption{testutil.WithAOF()},
		Env:         []string{"LOG_LEVEL=debug"},
		SandboxArgs: []string{"--log", "--script", "sec-7:1:400", "--script", "sec-11:2:500"}})
	rdb := s.redis.Client()
	var texts []source // everything to scan but Redis
	add := func(name, text string) { texts = append(texts, source{name, []byte(text)}) }
	ctl := func(args ...string) {
		code, out := runCtl(t, s.redis.URL, args...)
		add(fmt.Sprintf("notifyctl %s (exit %d)", strings.Join(args, " "), code), out)
	}
	httpGet := func(url string) {
		resp, err := http.Get(url)
		if err != nil {
			add(url, err.Error())
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		add(url+" ("+resp.Status+")", string(body))
	}

	// A small drain, through notifyctl and the Go API.
	lines, refs := campaignLines("sec", 40)
	file := filepath.Join(t.TempDir(), "campaign.jsonl")
	if err := os.WriteFile(file, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	ctl("campaign", file, "--name", "secrets")
	ctl("send", "system", "--to", guid(1), "--type", "Lead", "--message", "secrets check", "--ref", "sec-tx")
	ctl("send", "push", "--user", guid(2), "--title", "Secrets", "--content", "check", "--ref", "sec-push")
	refs = append(refs, s.campaign(t, "secapi", 10)...)
	var valid []string
	for _, r := range append(refs, "sec-tx", "sec-push") {
		if r != "sec-7" {
			valid = append(valid, r)
		}
	}
	s.waitDelivered(t, valid, 2*time.Minute)
	s.waitDead(t, 1, 10*time.Second) // sec-7's 400
	ctl("status", "sec-tx", "--json")
	ctl("status", "sec-7")
	ctl("stats", "--json")
	ctl("dlq", "list", "--json")
	w := s.workers[0]
	httpGet(w.http + "/readyz")
	httpGet(w.http + "/metrics")
	for _, p := range []string{"api/queues", "api/servers", "api/queues/bulk/completed_tasks", "api/queues/bulk/archived_tasks"} {
		httpGet(w.http + "/monitoring/" + p)
	}

	// A refused secret key: notifyd check, and a notifyd that halts the
	// account (the halt's reason is kept in Redis).
	bad := append(s.notifydEnv(), "LSQ_SECRET_KEY="+wrong, "NOTIFYD_HTTP_ADDR="+addr(t))
	code, out := run(t, "notifyd", bad, nil, "check")
	add(fmt.Sprintf("notifyd check with a refused secret (exit %d)", code), out)
	if code != 2 {
		t.Errorf("notifyd check with a refused secret: exit %d, want 2", code)
	}
	badEnv := []string{"LSQ_SECRET_KEY=" + wrong}
	badProc := s.startNotifyd(t, badEnv...)
	testutil.Eventually(t, 10*time.Second, func() bool { return badProc.readyz() == 503 }, "notifyd with a refused secret ready")
	if _, err := rdb.Get(context.Background(), "lsqd:{default}:halt").Result(); err != nil {
		t.Errorf("the refused secret did not halt the account: %v", err)
	}
	httpGet(badProc.http + "/readyz")
	badProc.terminate(t, 15*time.Second)

	// Redis down: notifyctl's and notifyd's errors.
	logged := len(w.out.String())
	s.redis.Stop()
	ctl("send", "system", "--to", guid(3), "--type", "Lead", "--message", "redis down", "--ref", "sec-down")
	ctl("stats")
	testutil.Eventually(t, 5*time.Second, func() bool { return w.readyz() == 503 }, "notifyd ready with Redis down")
	httpGet(w.http + "/readyz")
	code, out = run(t, "notifyd", append(s.notifydEnv(), "NOTIFYD_HTTP_ADDR="+addr(t)), nil, "check")
	add(fmt.Sprintf("notifyd check with Redis down (exit %d)", code), out)
	testutil.Eventually(t, 15*time.Second, func() bool { return asynqComplained(w.out.String()[logged:]) },
		"notifyd logged no error of asynq's with Redis down")
	s.redis.Restart()
	testutil.Eventually(t, 15*time.Second, func() bool { return w.readyz() == 200 || w.readyz() == 503 }, "notifyd answers")

	// The sandbox's records.
	httpGet(s.sbURL + "/_sandbox/calls")
	httpGet(s.sbURL + "/_sandbox/stats")
	w.terminate(t, 15*time.Second)
	for _, p := range s.workers {
		add(fmt.Sprintf("notifyd pid %d log", p.cmd.Process.Pid), p.out.String())
	}
	add("lsq-sandbox log", s.sandbox.out.String())

	// Redis, all of it: database 0 is the only one used.
	space := rdb.Info(context.Background(), "keyspace").Val()
	if strings.Count(space, "keys=") != 1 || !strings.Contains(space, "db0:") {
		t.Errorf("Redis keyspace %q: want keys in db0 only", space)
	}
	redisSources, keys := dumpRedis(t, rdb)
	texts = append(texts, redisSources...)

	needles := map[string][][]byte{}
	for name, key := range map[string]string{"access key": relAccess, "secret key": relSecret, "refused secret key": wrong} {
		needles[name] = encodings(key)
	}
	var scanned int
	for _, src := range texts {
		scanned += len(src.data)
		for name, forms := range needles {
			for _, f := range forms {
				if i := bytes.Index(src.data, f); i >= 0 {
					t.Errorf("the %s is in %s (as %q): …%s…", name, src.name, f, src.data[max(0, i-80):min(len(src.data), i+len(f)+80)])
				}
			}
		}
	}
	// The scan must be able to find what it looks for.
	planted := []byte(base64.StdEncoding.EncodeToString([]byte("xy" + relSecret + "z")))
	if !containsAny(planted, needles["secret key"]) || !containsAny([]byte(hex.EncodeToString([]byte(relSecret))), needles["secret key"]) {
		t.Fatal("the scan does not find a planted secret")
	}
	lines2 := 0
	for _, p := range s.workers {
		lines2 += strings.Count(p.out.String(), "\n")
	}
	t.Logf("scanned %d sources, %.1f KiB: %d Redis keys (values by type and DUMP), %d notifyd log lines at debug level, notifyctl and notifyd check outputs, the sandbox's log, calls and stats, notifyd's /readyz, /metrics and UI API; looked for 3 keys raw, in hex and in base64 (6 alignments): 0 hits expected",
		len(texts), float64(scanned)/1024, keys, lines2)
	if keys < 50 || lines2 < 50 {
		t.Errorf("the scan saw too little: %d Redis keys, %d log lines", keys, lines2)
	}
}

type source struct {
	name string
	data []byte
}

// encodings returns the forms of s to look for: raw, hex in both cases, and
// the part of its base64 (standard and URL alphabets) that is the same
// whatever precedes it, for each of the 3 alignments.
func encodings(s string) [][]byte {
	out := [][]byte{[]byte(s), []byte(hex.EncodeToString([]byte(s))), []byte(strings.ToUpper(hex.EncodeToString([]byte(s))))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for k := range 3 {
			e := enc.EncodeToString(append(make([]byte, k), s...))
			from, to := (4*k+2)/3, 4*(k+len(s))/3
			out = append(out, []byte(e[from:to]))
		}
	}
	return out
}

func containsAny(data []byte, forms [][]byte) bool {
	for _, f := range forms {
		if bytes.Contains(data, f) {
			return true
		}
	}
	return false
}

// dumpRedis returns every key of every database and its value, read by
// type and as DUMP's serialization, and the number of keys read. A key
// that SCAN lists may expire before it is read (the limiter's keys expire
// all the time): TYPE then says "none", and a key that is gone holds no
// secret, so it is skipped.
func dumpRedis(t *testing.T, rdb *redis.Client) ([]source, int) {
	t.Helper()
	ctx := context.Background()
	var out []source
	n, vanished := 0, 0
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		for _, k := range keys {
			typ, err := rdb.Type(ctx, k).Result()
			if err != nil {
				t.Fatalf("TYPE %s: %v", k, err)
			}
			if typ == "none" {
				vanished++
				continue
			}
			n++
			var b bytes.Buffer
			b.WriteString(k + "\n")
			switch typ {
			case "string":
				b.WriteString(rdb.Get(ctx, k).Val())
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					b.WriteString(f + "=" + v + "\n")
				}
			case "list":
				b.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
			case "set":
				b.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), "\n"))
			case "zset":
				for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
					fmt.Fprintf(&b, "%v %v\n", z.Member, z.Score)
				}
			case "stream":
				for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
					fmt.Fprintf(&b, "%s %v\n", m.ID, m.Values)
				}
			default:
				t.Errorf("key %s of type %s is not read", k, typ)
			}
			dump, _ := rdb.Dump(ctx, k).Result()
			out = append(out, source{"Redis key " + k + " (" + typ + ")", b.Bytes()},
				source{"Redis DUMP of " + k, []byte(dump)})
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	t.Logf("Redis: %d keys read, %d expired between SCAN and TYPE", n, vanished)
	return out, n
}

// asynqComplained reports whether a notifyd log (JSON lines) holds a
// warning or error of asynq's own, as it logs one with Redis down.
func asynqComplained(log string) bool {
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"component":"asynq"`) &&
			(strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"level":"warn"`)) {
			return true
		}
	}
	return false
}

// A key that expires between SCAN and reading it (here: deleted right
// after SCAN) holds no secret: dumpRedis skips it rather than fail on its
// type, "none", and reads the others.
func TestDumpRedis_SkipsAKeyGoneSinceScan(t *testing.T) {
	t.Parallel()
	n := testutil.StartPrivateRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
	other := redis.NewClient(&redis.Options{Addr: n.Addr})
	t.Cleanup(func() { _ = rdb.Close(); _ = other.Close() })
	ctx := context.Background()
	for _, k := range []string{"kept", "gone"} {
		if err := rdb.Set(ctx, k, "value of "+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.AddHook(deleteAfterScan{rdb: other, key: "gone"})
	srcs, keys := dumpRedis(t, rdb)
	if keys != 1 || len(srcs) != 2 || !bytes.Contains(srcs[0].data, []byte("value of kept")) {
		t.Fatalf("read %d keys, sources %q; want the kept key alone", keys, srcs)
	}
}

// deleteAfterScan deletes key once a SCAN has listed it, as an expiry would.
type deleteAfterScan struct {
	rdb *redis.Client
	key string
}

func (h deleteAfterScan) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deleteAfterScan) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "scan" {
			h.rdb.Del(ctx, h.key)
		}
		return err
	}
}

func (h deleteAfterScan) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
