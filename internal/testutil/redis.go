// Package testutil holds test helpers shared by the project's packages: a
// private real Redis per test, miniredis, and free loopback ports.
package testutil

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server process on a loopback port, or the server
// named by REDIS_URL when that is set.
type Redis struct {
	// Addr is host:port.
	Addr string
	// URL is redis://Addr/0.
	URL string

	tb   testing.TB
	dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// RedisOption adjusts a private redis-server's command line.
type RedisOption func(*[]string)

// WithAOF turns on the append-only file, so that a restart keeps the data.
func WithAOF() RedisOption {
	return func(a *[]string) { *a = append(*a, "--appendonly", "yes", "--appendfsync", "always") }
}

// WithArgs appends raw redis-server arguments.
func WithArgs(args ...string) RedisOption {
	return func(a *[]string) { *a = append(*a, args...) }
}

// StartRedis starts a private redis-server for the test and stops it at the
// end. When REDIS_URL is set, it uses that server instead. When redis-server
// is missing it skips the test, except under CI=true, where it fails it.
func StartRedis(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			tb.Fatalf("REDIS_URL: %v", err)
		}
		return &Redis{Addr: o.Addr, URL: u, tb: tb}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server is not installed (CI must install it: apt-get install redis-server)")
		}
		tb.Skip("redis-server is not installed; install it or set REDIS_URL")
	}
	r := &Redis{tb: tb, dir: tb.TempDir()}
	r.args = []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--protected-mode", "no", "--loglevel", "warning"}
	for _, o := range opts {
		o(&r.args)
	}
	for attempt := 0; ; attempt++ {
		port := FreePort(tb)
		r.Addr = "127.0.0.1:" + strconv.Itoa(port)
		r.URL = "redis://" + r.Addr + "/0"
		if err = r.start(bin); err == nil {
			break
		}
		if attempt == 4 {
			tb.Fatalf("start redis-server: %v", err)
		}
	}
	tb.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(bin string) error {
	_, port, _ := net.SplitHostPort(r.Addr)
	args := append([]string{"--port", port}, r.args...)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(r.dir, "redis-"+port+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait(); _ = logf.Close() }()
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if pingRaw(r.Addr) == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 5s (log: %s)", r.Addr, logf.Name())
}

// Stop kills the server (a no-op for REDIS_URL). Data survives only with AOF.
func (r *Redis) Stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	for i := 0; i < 500 && pingRaw(r.Addr) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port and directory.
func (r *Redis) Restart() {
	r.tb.Helper()
	if r.dir == "" {
		r.tb.Fatalf("Restart needs a private redis-server, not REDIS_URL")
	}
	r.Stop()
	bin, _ := exec.LookPath("redis-server")
	var err error
	for i := 0; i < 50; i++ {
		if err = r.start(bin); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.tb.Fatalf("restart redis-server: %v", err)
}

// Client returns a go-redis client for the server, closed at the end of the test.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// pingRaw pings without go-redis, so that helpers need no client pool.
func pingRaw(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING answer %q", line)
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Miniredis starts an embedded Redis whose TTLs follow the wall clock, for
// tests that need no real Redis.
func Miniredis(tb testing.TB) *miniredis.Miniredis {
	tb.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		tb.Fatalf("start miniredis: %v", err)
	}
	tb.Cleanup(m.Close)
	return m
}

// Eventually polls cond every 10ms until it holds or the timeout passes.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("timed out after %s: "+format, append([]any{timeout}, args...)...)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// StartRedisAt connects to a server another process started (a helper
// process of a multi-process test): nothing is started or stopped.
func StartRedisAt(tb testing.TB, addr string) *Redis {
	return &Redis{Addr: addr, URL: "redis://" + addr + "/0", tb: tb}
}
