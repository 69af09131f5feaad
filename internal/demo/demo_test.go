package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

func TestDemo_Run(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out testutil.SyncBuffer
	d, err := Start(ctx, Options{Size: 30, Transactional: 3, Addr: "127.0.0.1:0", Out: &out, Log: io.Discard,
		Interval: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(d.Close)

	// While the demo runs, the UI and /metrics answer.
	base := "http://" + d.Addr()
	var uiOK, metricsOK atomic.Bool
	stop := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for !(uiOK.Load() && metricsOK.Load()) {
			if status(base+config.PathMonitoring) == http.StatusOK {
				uiOK.Store(true)
			}
			if status(base+config.PathMetrics) == http.StatusOK {
				metricsOK.Store(true)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	sum, err := d.Run(ctx)
	close(stop)
	<-checked
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if !uiOK.Load() || !metricsOK.Load() {
		t.Errorf("while the demo ran: %s answered 200: %v, %s answered 200: %v",
			config.PathMonitoring, uiOK.Load(), config.PathMetrics, metricsOK.Load())
	}

	if err := sum.Err(); err != nil {
		t.Errorf("summary: %v", err)
	}
	if sum.RateLimited != 0 || sum.MaxInWindow > 25 || sum.Limit != 25 {
		t.Errorf("limit: %d answers 429, at most %d calls in a window of limit %d; want 0 and at most 25 of 25",
			sum.RateLimited, sum.MaxInWindow, sum.Limit)
	}
	if sum.Lost != 0 || sum.Delivered+sum.DeadLettered != sum.Valid || sum.Duplicates != 0 {
		t.Errorf("delivered %d + dead-lettered %d of %d valid (lost %d, duplicates %d)",
			sum.Delivered, sum.DeadLettered, sum.Valid, sum.Lost, sum.Duplicates)
	}
	if sum.Lines != 30 || sum.Invalid != 1 || sum.Enqueued != 29 || sum.Transactional != 3 || sum.Valid != 32 {
		t.Errorf("counts: lines %d, invalid %d, enqueued %d, transactional %d, valid %d; want 30, 1, 29, 3, 32",
			sum.Lines, sum.Invalid, sum.Enqueued, sum.Transactional, sum.Valid)
	}
	if sum.DeadLettered != 2 {
		t.Errorf("dead-lettered %d, want the 2 notifications LeadSquared is scripted to refuse", sum.DeadLettered)
	}
	if sum.Retried < 2 {
		t.Errorf("retried %d, want at least the 2 scripted 500s of the flaky notification", sum.Retried)
	}
	if len(sum.TxLatencies) != 3 {
		t.Errorf("transactional latencies %v, want 3", sum.TxLatencies)
	}

	text := out.String()
	for _, want := range []string{"Campaign \"demo\": 30 lines read, 29 enqueued", "line 16: body.ToUser:",
		"Summary: 30 campaign lines (1 refused at enqueue), 3 transactional notifications",
		"delivered", "max calls in a 5s window", "transactional latency", "OK: nothing lost"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// After the run the UI still serves, with the dead letters counted.
	if code := status(base + config.PathMonitoring); code != http.StatusOK {
		t.Errorf("after the run, %s: %d", config.PathMonitoring, code)
	}
	resp, err := http.Get(base + config.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `lsqd_dead_letters{queue="bulk"} 2`) {
		t.Errorf("/metrics lacks lsqd_dead_letters{queue=\"bulk\"} 2")
	}
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestMain_Flags(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "--exit-when-done"},
		{[]string{"--size", "0"}, 2, "--size 0: want at least 1"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(t.Context(), c.args, getenv, &stdout, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("Main %q = %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}

func TestMain_OffLoopbackNeedsUICredentials(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"--addr", "0.0.0.0:0", "--exit-when-done"}, func(string) string { return "" }, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), config.EnvUIUser) {
		t.Fatalf("Main --addr 0.0.0.0:0 = %d, stderr %q; want 2 naming %s", code, stderr.String(), config.EnvUIUser)
	}
}

func TestNewCampaign(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ size, invalid, refused, flaky int }{
		{1, 0, 0, 0}, {5, 0, 1, 0}, {10, 1, 1, 1}, {30, 1, 2, 1}, {200, 1, 2, 8},
	} {
		camp := newCampaign(c.size)
		lines := strings.Split(strings.TrimSuffix(string(camp.jsonl), "\n"), "\n")
		if len(lines) != c.size || camp.lines != c.size {
			t.Errorf("size %d: %d lines", c.size, len(lines))
		}
		if camp.invalid != c.invalid || len(camp.refused) != c.refused || len(camp.flaky) != c.flaky {
			t.Errorf("size %d: invalid %d, refused %v, flaky %v; want %d, %d, %d",
				c.size, camp.invalid, camp.refused, camp.flaky, c.invalid, c.refused, c.flaky)
		}
		kinds := map[string]int{}
		for _, l := range lines {
			var v struct{ Type, Ref string }
			if err := json.Unmarshal([]byte(l), &v); err != nil || v.Ref == "" {
				t.Fatalf("size %d: line %q: %v", c.size, l, err)
			}
			kinds[v.Type]++
		}
		if c.size >= 3 && (kinds["system"] == 0 || kinds["push"] == 0) {
			t.Errorf("size %d: kinds %v, want both system and push", c.size, kinds)
		}
		if len(camp.scripts()) != c.refused+c.flaky {
			t.Errorf("size %d: %d scripts", c.size, len(camp.scripts()))
		}
	}
}

func TestSummary_Err(t *testing.T) {
	t.Parallel()
	ok := Summary{Valid: 10, Delivered: 8, DeadLettered: 2, MaxInWindow: 25, Limit: 25, Window: 5 * time.Second}
	if err := ok.Err(); err != nil {
		t.Errorf("a clean run: %v", err)
	}
	for name, s := range map[string]Summary{
		"Lost":        {Valid: 10, Delivered: 7, DeadLettered: 2, Lost: 1, Limit: 25},
		"RateLimited": {RateLimited: 1, Limit: 25},
		"OverLimit":   {MaxInWindow: 26, Limit: 25},
		"Interrupted": {Interrupted: true, Limit: 25},
	} {
		if s.Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSummary_TxPercentile(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	s := Summary{TxLatencies: []time.Duration{300 * ms, 100 * ms, 200 * ms, 900 * ms}}
	if got := s.TxPercentile(0.5); got != 200*ms {
		t.Errorf("p50 = %s, want 200ms", got)
	}
	if got := s.TxPercentile(1); got != 900*ms {
		t.Errorf("max = %s, want 900ms", got)
	}
	if got := (Summary{}).TxPercentile(0.5); got != 0 {
		t.Errorf("p50 of none = %s", got)
	}
}

func TestLineDisplay(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	d := &lineDisplay{out: &b, interval: 2 * time.Second}
	p := progress{total: 10, limit: 25, window: 5 * time.Second}
	for _, sec := range []float64{0, 1, 2.1, 3} {
		p.elapsed = time.Duration(sec * float64(time.Second))
		p.delivered, p.settled, p.inWindow = int(sec), int(sec), 5
		d.update(p)
	}
	p.settled, p.delivered, p.waiting = 10, 9, 0
	p.dead = 1
	d.finish(p)
	want := "   0.0s    0%  delivered 0 · waiting 0 · retried 0 · dead-lettered 0 · window 5/25 · 1.0 calls/s\n" +
		"   2.1s   20%  delivered 2 · waiting 0 · retried 0 · dead-lettered 0 · window 5/25 · 1.0 calls/s\n" +
		"   3.0s  100%  delivered 9 · waiting 0 · retried 0 · dead-lettered 1 · window 5/25 · 1.0 calls/s\n"
	if b.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", b.String(), want)
	}
}
