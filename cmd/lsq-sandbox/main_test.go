package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// The binary is built once per test process, into binDir.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds lsq-sandbox (this package) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the go command is not on PATH")
		}
		t.Skip("the go command is not on PATH")
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "lsq-sandbox-test-"); buildErr != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(binDir, "lsq-sandbox"), ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "lsq-sandbox")
}

// proc is a running lsq-sandbox.
type proc struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:PORT
	stderr *testutil.SyncBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// startSandbox runs the binary on a free loopback port (--addr 127.0.0.1:0;
// the port is read from the first line) and kills it at the end of the test
// if it still runs.
func startSandbox(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{stderr: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary(t), append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		m := regexp.MustCompile(`^lsq-sandbox listening on (http://127\.0\.0\.1:\d+) \((.*)\)\n$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("first line %q; stderr %s", line, p.stderr.String())
		}
		p.url = m[1]
	case <-time.After(10 * time.Second):
		t.Fatalf("lsq-sandbox did not start within 10s; stderr %s", p.stderr.String())
	}
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("lsq-sandbox did not exit within 10s of SIGTERM; stderr %s", p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func (p *proc) stats(t *testing.T) sandbox.Stats {
	t.Helper()
	resp, err := http.Get(p.url + sandbox.PathStats)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st sandbox.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (p *proc) client(t *testing.T, accessKey, secretKey string) *leadsquared.Client {
	t.Helper()
	c, err := leadsquared.NewClient(leadsquared.Config{BaseURL: p.url, AccessKey: accessKey, SecretKey: secretKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	binAccessKey = "u$rbin0123456789abcdef0123456789ab"
	binSecretKey = "binsecret0123456789abcdef0123456789abcd"
	binUser      = "2f5508b5-f7ed-11ea-b39f-122cab85b441"
)

// TestBinary_RealSocket drives the built binary over a real socket with the
// real leadsquared.Client: keys, a system notification, the 26th call in 5 s
// and a clean SIGTERM.
func TestBinary_RealSocket(t *testing.T) {
	t.Parallel()
	p := startSandbox(t, []string{envAccessKey + "=" + binAccessKey, envSecretKey + "=" + binSecretKey}, "--log")
	ctx := context.Background()
	push := leadsquared.PushNotification{UserId: binUser, Title: "Hot lead", Content: "Call now"}

	// A push without keys is refused with LeadSquared's 401 body.
	resp, err := http.Post(p.url+leadsquared.PushPath, "application/json", strings.NewReader(`{"Title":"t","Content":"c"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body["ExceptionType"] != "MXUnAuthorizedAccessException" || body["Status"] != "Error" {
		t.Fatalf("keyless push: HTTP %d %v", resp.StatusCode, body)
	}
	// So is a client with the wrong secret key.
	_, err = p.client(t, binAccessKey, "wrong-secret").SendPush(ctx, push)
	if kind := leadsquared.Classify(err); kind != leadsquared.KindCredentials {
		t.Fatalf("wrong secret key: %v (%s), want credentials", err, kind)
	}

	c := p.client(t, binAccessKey, binSecretKey)
	id, err := c.SendSystem(ctx, leadsquared.SystemNotification{
		Type: "Lead", CardContents: leadsquared.CardContents{Message: "New lead assigned"}, ToUser: binUser,
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: "sys-1"},
	})
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_\d{13}$`).MatchString(id) {
		t.Fatalf("SendSystem: %q, %v; want a MessageID <uuid>_<unix ms>", id, err)
	}

	// A fresh window, then 26 calls at once: the 26th is refused.
	resp, err = http.Post(p.url+sandbox.PathReset, "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v %v", resp, err)
	}
	resp.Body.Close()
	start := time.Now()
	for i := 1; i <= 25; i++ {
		if _, err := c.SendPush(leadsquared.WithRequestID(ctx, fmt.Sprintf("p-%d", i)), push); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	_, err = c.SendPush(ctx, push)
	if elapsed := time.Since(start); elapsed >= 4*time.Second {
		t.Fatalf("26 calls took %s: too slow to test a 5 s window", elapsed)
	}
	var le *leadsquared.Error
	if !errors.As(err, &le) || le.Kind != leadsquared.KindRateLimited || le.StatusCode != 429 ||
		le.Limit == nil || *le.Limit != (leadsquared.Limit{Calls: 25, Window: 5 * time.Second}) {
		t.Fatalf("26th push: %v, want rate_limited with Limit 25/5s", err)
	}
	st := p.stats(t)
	if st.Accepted != 25 || st.RateLimited != 1 || st.MaxInWindow != 25 || st.PerRef["p-25"] != 1 {
		t.Fatalf("stats %+v", st)
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr %s", code, p.stderr.String())
	}
	log := p.stderr.String()
	if strings.Contains(log, binAccessKey) || strings.Contains(log, binSecretKey) || !strings.Contains(log, `ref="p-1"`) {
		t.Fatalf("stderr shows a key, or lacks the call log:\n%s", log)
	}
}

// TestBinary_HeldCallsDoNotBlockShutdown: a call held by --timeout-rate is
// released on SIGTERM, and the process still exits 0 at once.
func TestBinary_HeldCallsDoNotBlockShutdown(t *testing.T) {
	t.Parallel()
	p := startSandbox(t, nil, "--timeout-rate", "1", "--access-key", binAccessKey, "--secret-key", binSecretKey)
	c := p.client(t, binAccessKey, binSecretKey)
	errc := make(chan error, 1)
	go func() {
		_, err := c.SendPush(context.Background(), leadsquared.PushNotification{Title: "t", Content: "c"})
		errc <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() bool { return p.stats(t).Held == 1 }, "the push is held")
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s", code, p.stderr.String())
	}
	if waited := time.Since(start); waited >= shutdownTimeout {
		t.Fatalf("shutdown took %s: the held call blocked it", waited)
	}
	if err := <-errc; leadsquared.Classify(err) != leadsquared.KindTransient {
		t.Fatalf("held push: %v, want a transient error (connection closed)", err)
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{"127.0.0.1:8089": true, "[::1]:8089": true, "0.0.0.0:8089": false, "[::]:1": false, "10.0.0.1:80": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLoopback(a); got != want {
			t.Errorf("isLoopback(%s) = %v, want %v", addr, got, want)
		}
	}
}
