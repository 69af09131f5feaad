package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Node is one redis-server process (a TLS server, a Cluster node, a
// Sentinel master, replica or Sentinel) that a helper started on a loopback
// port; the helper stops it at the end of the test.
type Node struct {
	// Addr is 127.0.0.1:port.
	Addr string
	// Dir holds the node's files and its log (Log).
	Dir, Log string

	args  []string
	ready func(addr string) error
	mu    sync.Mutex
	cmd   *exec.Cmd
}

// redisServer returns redis-server's path, or skips the test when it is
// missing (fails it under CI=true), as StartRedis does.
func redisServer(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server is not installed (CI must install it: apt-get install redis-server)")
		}
		tb.Skip("redis-server is not installed")
	}
	return bin
}

// startNode starts redis-server with the arguments args(port) on a free
// loopback port, retrying on another port when the first is taken, and waits
// until ready answers. The node is killed at the end of the test.
func startNode(tb testing.TB, dir string, args func(port int) []string, ready func(addr string) error) *Node {
	tb.Helper()
	bin := redisServer(tb)
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(tb)
		n := &Node{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, args: args(port), ready: ready}
		n.Log = filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
		if err = n.start(bin); err == nil {
			tb.Cleanup(n.Kill)
			return n
		}
	}
	tb.Fatalf("start redis-server: %v", err)
	return nil
}

func (n *Node) start(bin string) error {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, n.args...)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(exited) }()
	n.mu.Lock()
	n.cmd = cmd
	n.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start:\n%s", n.Addr, tail(n.Log))
		default:
		}
		if n.ready(n.Addr) == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer within 5s:\n%s", n.Addr, tail(n.Log))
}

// Kill kills the node at once (SIGKILL), as a crash would; a no-op when it
// is not running.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd := n.cmd
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", n.Addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Running reports whether the node was started and not killed.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// command sends one inline command on conn and returns the reply: a simple
// string with its "+" (or a bulk string's content, or "" for nil), or an
// array's or integer's first line ("*3", ":1"). An error reply is an error.
func command(conn net.Conn, cmd string) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "$"):
		return readBulk(r, line)
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}

// readBulk reads a bulk string's content after its header line ("$N").
func readBulk(r *bufio.Reader, header string) (string, error) {
	n, err := strconv.Atoi(header[1:])
	if err != nil {
		return "", fmt.Errorf("unexpected reply %q", header)
	}
	if n < 0 {
		return "", nil // nil reply
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// readAddr sends cmd and reads a two-element array of bulk strings
// (host, port), as SENTINEL GET-MASTER-ADDR-BY-NAME answers.
func readAddr(conn net.Conn, cmd string) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if line = strings.TrimRight(line, "\r\n"); line != "*2" {
		return "", fmt.Errorf("unexpected reply %q", line)
	}
	var parts []string
	for i := 0; i < 2; i++ {
		h, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		s, err := readBulk(r, strings.TrimRight(h, "\r\n"))
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return net.JoinHostPort(parts[0], parts[1]), nil
}

func dialTCP(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 200*time.Millisecond)
}

// tcpCommand dials addr and sends one command.
func tcpCommand(addr, cmd string) (string, error) {
	return authCommand(addr, "", cmd)
}

// authCommand dials addr, authenticates with password (unless empty) and
// sends one command.
func authCommand(addr, password, cmd string) (string, error) {
	conn, err := dialTCP(addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if password != "" {
		if _, err := command(conn, "AUTH "+password); err != nil {
			return "", err
		}
	}
	return command(conn, cmd)
}

// StartPrivateRedis starts a private redis-server with more arguments (for
// example an ACL user: "--user", "app", "on", ">secret", "~*", "&*",
// "+@all") and stops it at the end of the test. Unlike StartRedis it ignores
// REDIS_URL: the test needs a server it configures.
func StartPrivateRedis(tb testing.TB, args ...string) *Node {
	tb.Helper()
	dir := tb.TempDir()
	return startNode(tb, dir, func(port int) []string {
		return append(append([]string{"--port", fmt.Sprint(port)}, baseArgs(dir)...), args...)
	}, plainReady)
}

// plainReady pings over TCP; NOAUTH counts as an answer.
func plainReady(addr string) error {
	line, err := tcpCommand(addr, "PING")
	if err != nil && !isNoAuth(err) {
		return err
	}
	if err == nil && line != "+PONG" {
		return fmt.Errorf("unexpected PING answer %q", line)
	}
	return nil
}
