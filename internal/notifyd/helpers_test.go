package notifyd

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// testBundle is one notifyd process on a private miniredis, delivering to a
// local LeadSquared.
type testBundle struct {
	proc *Process
	base string // http://ADDR
	lsq  *leadsquaredtest.Server
}

// setup starts a process listening on a loopback port; adjust changes its
// configuration first.
func setup(t *testing.T, adjust func(*config.Config)) *testBundle {
	t.Helper()
	m := testutil.Miniredis(t)
	lsq := leadsquaredtest.Start(t, leadsquaredtest.Config{})
	cfg := &config.Config{
		RedisURL: "redis://" + m.Addr() + "/0",
		Accounts: []config.Account{{Name: "default", BaseURL: lsq.URL, AccessKey: lsq.AccessKey,
			SecretKey: lsq.SecretKey, Policy: worker.DefaultPolicy}},
		Concurrency:     2,
		HTTPAddr:        "127.0.0.1:0",
		ShutdownTimeout: 15 * time.Second,
		LogFormat:       "json",
	}
	if adjust != nil {
		adjust(cfg)
	}
	p, err := Start(context.Background(), cfg, zerolog.New(io.Discard), Options{UI: DefaultUI})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(p.Stop)
	return &testBundle{proc: p, base: "http://" + p.Addr(), lsq: lsq}
}

// get fetches path with optional basic auth ("" user: none) and returns the
// status and body.
func get(t *testing.T, url, user, password string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, user, password)
}

func do(t *testing.T, method, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(body)
}

// metricLines returns the lines of /metrics that start with prefix.
func metricLines(t *testing.T, base, prefix string) []string {
	t.Helper()
	code, body := get(t, base+config.PathMetrics, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}
