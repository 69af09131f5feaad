package notifyd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
)

// With Redis gone, asynq's queue-metrics collector reports its failure
// through the standard library's log package at every scrape. notifyd's
// stderr must still hold only zerolog's JSON lines, that one among them.
// Not parallel: it redirects the process's standard logger while it runs.
func TestServe_ForeignLogLinesAreZerologs(t *testing.T) {
	m := testutil.Miniredis(t)
	lsq := leadsquaredtest.Start(t, leadsquaredtest.Config{})
	httpAddr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	env := map[string]string{
		"REDIS_URL": "redis://" + m.Addr() + "/0", "LSQ_ACCESS_KEY": lsq.AccessKey, "LSQ_SECRET_KEY": lsq.SecretKey,
		"LSQ_API_BASE_URL": lsq.URL, "NOTIFYD_HTTP_ADDR": httpAddr, "NOTIFYD_CONCURRENCY": "1",
	}
	stderr := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() { exited <- serve(ctx, func(k string) string { return env[k] }, stderr) }()

	base := "http://" + httpAddr
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "notifyd never answered /healthz")
	m.Close() // Redis goes away
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	testutil.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "Failed to collect metrics data")
	}, "the collector's failure is not in notifyd's log:\n%s", stderr.String())
	cancel()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("notifyd did not stop")
	}

	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("a line outside zerolog's JSON: %q", sc.Text())
			continue
		}
		if msg, _ := line["message"].(string); strings.HasPrefix(msg, "Failed to collect metrics data") &&
			(line["level"] != "warn" || line["component"] != "stdlog") {
			t.Errorf("the collector's line: %v, want a warning of component stdlog", line)
		}
	}
}
