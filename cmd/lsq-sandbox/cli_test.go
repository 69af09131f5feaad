package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

func env(kv ...string) func(string) string {
	return func(name string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		o, err := parseFlags(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.cfg
		if o.addr != "127.0.0.1:8089" || c.Limit != 25 || c.Window != 5*time.Second || c.AccessKey != "" || o.log ||
			c.SystemPath != leadsquared.DefaultSystemNotificationPath || c.MaxCalls != sandbox.DefaultMaxCalls {
			t.Fatalf("defaults: %+v", o)
		}
	})

	t.Run("Everything", func(t *testing.T) {
		t.Parallel()
		o, err := parseFlags([]string{
			"--addr", "127.0.0.1:0", "--access-key", "ak", "--secret-key", "sk", "--plan", "Pro", "--window", "10s",
			"--daily-cap", "100", "--limit-as-200", "--system-path", "/v2/X.svc/Y", "--latency", "20ms",
			"--error-rate", "0.1", "--slow-rate", "0.2", "--slow-delay", "1s", "--timeout-rate", "0.05",
			"--retry-after", "3s", "--burst-429", "4", "--script", "c-17:1:400", "--script", "urn:x:y:2:500",
			"--seed", "7", "--max-calls", "10", "--log",
		}, env(envAccessKey, "env-ak", envSecretKey, "env-sk"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.cfg
		f := c.Faults
		want := []sandbox.Script{{Ref: "c-17", FirstN: 1, Status: 400}, {Ref: "urn:x:y", FirstN: 2, Status: 500}}
		if c.AccessKey != "ak" || c.SecretKey != "sk" || c.Limit != 5 || c.Window != 10*time.Second || c.DailyCap != 100 ||
			!c.LimitAs200 || c.SystemPath != "/v2/X.svc/Y" || c.Latency != 20*time.Millisecond || c.Seed != 7 || c.MaxCalls != 10 || !o.log ||
			f.ErrorRate != 0.1 || f.SlowRate != 0.2 || f.SlowDelay != time.Second || f.TimeoutRate != 0.05 ||
			f.RetryAfter != 3*time.Second || f.Burst429 != 4 || !slices.Equal(f.Scripts, want) {
			t.Fatalf("parsed %+v", o)
		}
	})

	t.Run("KeysFromTheEnvironment", func(t *testing.T) {
		t.Parallel()
		o, err := parseFlags([]string{"--secret-key", "flag-sk"}, env(envAccessKey, "env-ak", envSecretKey, "env-sk"), io.Discard)
		if err != nil || o.cfg.AccessKey != "env-ak" || o.cfg.SecretKey != "flag-sk" {
			t.Fatalf("keys %q %q, %v: want the environment's access key and the flag's secret key", o.cfg.AccessKey, o.cfg.SecretKey, err)
		}
	})

	t.Run("Plans", func(t *testing.T) {
		t.Parallel()
		for plan, limit := range map[string]int{"lite": 2, "pro": 5, "super": 10, "basic": 10, "standard": 15, "enterprise": 25} {
			o, err := parseFlags([]string{"--plan", plan}, env(), io.Discard)
			if err != nil || o.cfg.Limit != limit {
				t.Errorf("--plan %s: limit %d, %v; want %d", plan, o.cfg.Limit, err, limit)
			}
		}
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"--plan", "pro", "--limit", "5"},
			{"--plan", "gold"},
			{"--limit", "0"},
			{"--script", "c-17:1"},
			{"--script", "c-17:x:400"},
			{"--script", ":1:400"},
			{"--script", "r:1:700"},
			{"--nope"},
			{"extra"},
		} {
			if _, err := parseFlags(args, env(), io.Discard); err == nil {
				t.Errorf("%q: accepted", args)
			}
		}
	})
}

func TestRun(t *testing.T) {
	t.Parallel()

	t.Run("BadCommandLine", func(t *testing.T) {
		t.Parallel()
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--error-rate", "2"}, env(), io.Discard, &stderr); code != 2 {
			t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "ErrorRate 2 is not between 0 and 1") {
			t.Fatalf("stderr %q", stderr.String())
		}
	})

	t.Run("HelpDoesNotShowKeys", func(t *testing.T) {
		t.Parallel()
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-h"}, env(envAccessKey, "env-ak-7f3e", envSecretKey, "env-sk-9c1d"), io.Discard, &stderr)
		if code != 0 || !strings.Contains(stderr.String(), "-access-key") {
			t.Fatalf("exit %d, usage %s", code, stderr.String())
		}
		if strings.Contains(stderr.String(), "env-ak-7f3e") || strings.Contains(stderr.String(), "env-sk-9c1d") {
			t.Fatalf("usage shows a key from the environment:\n%s", stderr.String())
		}
	})

	t.Run("ServesUntilCancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		outR, outW := io.Pipe()
		var stderr testutil.SyncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--limit", "-1", "--daily-cap", "9", "--log"}, env(), outW, &stderr)
			outW.Close()
		}()
		line, err := bufio.NewReader(outR).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, outR)
		base, ok := strings.CutPrefix(strings.TrimSpace(line), "lsq-sandbox listening on ")
		if !ok || !strings.HasSuffix(base, " (no limit, daily cap 9)") {
			t.Fatalf("first line %q", line)
		}
		base = strings.TrimSuffix(base, " (no limit, daily cap 9)")
		resp, err := http.Get(base + "/_sandbox/stats")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req, _ := http.NewRequest("POST", base+leadsquared.PushPath, strings.NewReader(`{"Title":"t","Content":"c"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(leadsquared.AccessKeyHeader, "any-access-key")
		req.Header.Set(leadsquared.SecretKeyHeader, "any-secret-key")
		req.Header.Set(leadsquared.RequestIDHeader, "task-1")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("push with any keys: HTTP %d", resp.StatusCode)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d; stderr %s", code, stderr.String())
		}
		log := stderr.String()
		if !strings.Contains(log, ` push 200 accepted ref="task-1"`) || !strings.Contains(log, "lsq-sandbox: stopped") {
			t.Fatalf("stderr %q: want a call line and the stop", log)
		}
		if strings.Contains(log, "any-access-key") || strings.Contains(log, "any-secret-key") {
			t.Fatalf("the log shows a key: %s", log)
		}
	})

	t.Run("AddressInUse", func(t *testing.T) {
		t.Parallel()
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--addr", ln.Addr().String()}, env(), io.Discard, &stderr); code != 1 {
			t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
		}
	})
}

func TestCallLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logf := callLogger(&buf)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	logf(sandbox.Call{Time: at, Kind: sandbox.KindSystem, Status: 500, Counted: true, Ref: "r 1", KeyID: "1a2b3c4d",
		Exception: sandbox.ExceptionServer, Fault: sandbox.FaultError, Latency: time.Second})
	logf(sandbox.Call{Time: at, Path: "/nope", Status: 404, Exception: sandbox.ExceptionNotFound})
	want := `2026-03-02T09:00:00.000Z system 500 counted ref="r 1" key="1a2b3c4d" exception="System.Exception" fault="error" latency=1s
2026-03-02T09:00:00.000Z - 404 path="/nope" exception="MXAPINotFoundException"
`
	if buf.String() != want {
		t.Fatalf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
}
