package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a private redis-server on a free loopback port, with no
// persistence, killed by Stop (and by the kernel if the harness dies: see
// childAttr).
type redisServer struct {
	Addr string
	URL  string

	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	client *redis.Client
}

// startRedis starts redis-server in dir; it retries on another port when the
// first is taken.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (Debian: apt-get install redis-server)")
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r, err := launchRedis(ctx, bin, dir, port)
		if err == nil {
			return r, nil
		}
		if attempt == 4 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func launchRedis(ctx context.Context, bin, dir string, port int) (*redisServer, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	r := &redisServer{Addr: addr, URL: "redis://" + addr + "/0", exited: make(chan struct{}),
		log: filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")}
	logf, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no",
		"--loglevel", "warning", "--maxclients", "4096")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = childAttr()
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { _ = r.cmd.Wait(); _ = logf.Close(); close(r.exited) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-r.exited:
			return nil, fmt.Errorf("redis-server on %s exited at start: %s", addr, tailFile(r.log, 500))
		default:
		}
		if pingRaw(addr) == nil {
			r.client = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 16})
			return r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	return nil, fmt.Errorf("redis-server on %s did not answer PING within 5s: %s", addr, tailFile(r.log, 500))
}

// Client is the harness's own client of the server.
func (r *redisServer) Client() *redis.Client { return r.client }

// PID is the server's process id.
func (r *redisServer) PID() int { return r.cmd.Process.Pid }

// Stop kills the server and waits for it to exit. Safe to call twice.
func (r *redisServer) Stop() {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return
	}
	if r.client != nil {
		_ = r.client.Close()
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
	}
}

// redisInfo is what the harness reads from INFO.
type redisInfo struct {
	// Commands counts the calls of each command (INFO commandstats), those
	// run by Lua scripts included.
	Commands map[string]int64
	// UsedMemory is used_memory in bytes.
	UsedMemory int64
	// CPU is the server's user+system CPU time.
	CPU time.Duration
}

// TotalCommands sums the calls of every command but INFO (the harness's own).
func (i redisInfo) TotalCommands() int64 {
	var n int64
	for c, v := range i.Commands {
		if c != "info" {
			n += v
		}
	}
	return n
}

// Sub returns the calls of each command made between o and i.
func (i redisInfo) Sub(o redisInfo) map[string]int64 {
	d := map[string]int64{}
	for c, v := range i.Commands {
		if c == "info" {
			continue
		}
		if n := v - o.Commands[c]; n > 0 {
			d[c] = n
		}
	}
	return d
}

// info reads INFO commandstats, memory and cpu.
func (r *redisServer) info(ctx context.Context) (redisInfo, error) {
	s, err := r.client.Info(ctx, "commandstats", "memory", "cpu").Result()
	if err != nil {
		return redisInfo{}, fmt.Errorf("INFO: %w", err)
	}
	return parseInfo(s), nil
}

func parseInfo(s string) redisInfo {
	out := redisInfo{Commands: map[string]int64{}}
	var cpu float64
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "cmdstat_"):
			// calls=1,usec=3,usec_per_call=3.00,...
			for _, f := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(f, "calls="); ok {
					c, _ := strconv.ParseInt(n, 10, 64)
					out.Commands[strings.TrimPrefix(k, "cmdstat_")] = c
				}
			}
		case k == "used_memory":
			out.UsedMemory, _ = strconv.ParseInt(v, 10, 64)
		case k == "used_cpu_user" || k == "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
	}
	out.CPU = time.Duration(cpu * float64(time.Second))
	return out
}

// version returns redis-server's version line.
func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	s := strings.TrimSpace(string(out))
	if i := strings.Index(s, " sha="); i > 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "Redis server ")
}

// pingRaw pings without go-redis.
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

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailFile returns the last n bytes of a file, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
