package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master name the Sentinels of StartSentinel monitor.
const SentinelMaster = "mymaster"

// Sentinel is a private Sentinel deployment on loopback ports: a master, a
// replica and three Sentinels (quorum 2).
type Sentinel struct {
	// Master and Replica are the data nodes as started; after a failover
	// their roles are swapped (see MasterAddr).
	Master, Replica *Node
	Sentinels       []*Node
	// URL is redis-sentinel://the Sentinels/0?master=mymaster.
	URL string

	auth string
}

// SentinelOptions adjust StartSentinel.
type SentinelOptions struct {
	// DownAfter is how long the Sentinels wait before they call an
	// unreachable master down (default 1s).
	DownAfter time.Duration
	// FailoverTimeout bounds a failover (default 5s).
	FailoverTimeout time.Duration
	// Args are more arguments for both data nodes (e.g. --requirepass).
	Args []string
	// SentinelArgs are more lines for the Sentinels' configuration (e.g.
	// "sentinel auth-pass mymaster secret").
	SentinelArgs []string
}

// StartSentinel starts a master, a replica of it and three Sentinels, waits
// until the replica is in sync and every Sentinel knows the replica and the
// other Sentinels, and kills them all at the end of the test. REDIS_URL does
// not apply.
func StartSentinel(tb testing.TB, o SentinelOptions) *Sentinel {
	tb.Helper()
	start := time.Now()
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 5 * time.Second
	}
	auth := ""
	for i, a := range o.Args {
		if a == "--requirepass" && i+1 < len(o.Args) {
			auth = o.Args[i+1]
		}
	}
	dataNode := func(extra ...string) *Node {
		dir := tb.TempDir()
		return startNode(tb, dir, func(port int) []string {
			// A diskless full sync waits 5 s by default for more replicas.
			args := append([]string{"--port", strconv.Itoa(port), "--repl-diskless-sync-delay", "0"}, baseArgs(dir)...)
			if auth != "" {
				args = append(args, "--masterauth", auth)
			}
			return append(append(args, o.Args...), extra...)
		}, plainReady)
	}
	s := &Sentinel{Master: dataNode(), auth: auth}
	host, port, _ := strings.Cut(s.Master.Addr, ":")
	s.Replica = dataNode("--replicaof", host, port)
	waitFor(tb, 10*time.Second, func() (bool, string) {
		info, err := authCommand(s.Replica.Addr, auth, "INFO replication")
		return err == nil && strings.Contains(info, "master_link_status:up"), info
	}, "replica %s in sync with %s", s.Replica.Addr, s.Master.Addr)

	var addrs []string
	for i := 0; i < 3; i++ {
		dir := tb.TempDir()
		n := startNode(tb, dir, func(p int) []string {
			conf := filepath.Join(dir, "sentinel.conf")
			lines := []string{
				"port " + strconv.Itoa(p), "bind 127.0.0.1", "protected-mode no", "dir " + dir,
				fmt.Sprintf("sentinel monitor %s %s %s 2", SentinelMaster, host, port),
				fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMaster, o.DownAfter.Milliseconds()),
				fmt.Sprintf("sentinel failover-timeout %s %d", SentinelMaster, o.FailoverTimeout.Milliseconds()),
				fmt.Sprintf("sentinel parallel-syncs %s 1", SentinelMaster),
			}
			if auth != "" {
				lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", SentinelMaster, auth))
			}
			lines = append(lines, o.SentinelArgs...)
			if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				tb.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		}, plainReady)
		s.Sentinels = append(s.Sentinels, n)
		addrs = append(addrs, n.Addr)
	}
	s.URL = "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + SentinelMaster
	for _, n := range s.Sentinels {
		waitFor(tb, 20*time.Second, func() (bool, string) {
			rs, err1 := tcpCommand(n.Addr, "SENTINEL REPLICAS "+SentinelMaster)
			ss, err2 := tcpCommand(n.Addr, "SENTINEL SENTINELS "+SentinelMaster)
			return err1 == nil && err2 == nil && rs == "*1" && ss == "*2", rs + " " + ss
		}, "Sentinel %s knows the replica and the 2 other Sentinels", n.Addr)
	}
	tb.Logf("Sentinel deployment ready after %s", time.Since(start).Round(time.Millisecond))
	return s
}

// MasterAddr asks the first Sentinel that answers for the master's address.
func (s *Sentinel) MasterAddr() (string, error) {
	var err error
	for _, n := range s.Sentinels {
		if !n.Running() {
			continue
		}
		var addr string
		if addr, err = sentinelMaster(n.Addr); err == nil {
			return addr, nil
		}
	}
	return "", err
}

// Failover forces a failover (SENTINEL FAILOVER, no agreement needed) and
// waits until every Sentinel names the former replica as master and it
// accepts writes. It returns how long that took.
func (s *Sentinel) Failover(tb testing.TB) time.Duration {
	tb.Helper()
	before, err := s.MasterAddr()
	if err != nil {
		tb.Fatalf("master before the failover: %v", err)
	}
	start := time.Now()
	if _, err := tcpCommand(s.Sentinels[0].Addr, "SENTINEL FAILOVER "+SentinelMaster); err != nil {
		tb.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	s.WaitNewMaster(tb, before, 30*time.Second)
	return time.Since(start)
}

// WaitNewMaster waits until every running Sentinel names a master other
// than before and that master says it is one.
func (s *Sentinel) WaitNewMaster(tb testing.TB, before string, timeout time.Duration) string {
	tb.Helper()
	var now string
	waitFor(tb, timeout, func() (bool, string) {
		for _, n := range s.Sentinels {
			if !n.Running() {
				continue
			}
			addr, err := sentinelMaster(n.Addr)
			if err != nil || addr == before {
				return false, fmt.Sprintf("%s says %s %v", n.Addr, addr, err)
			}
			now = addr
		}
		role, err := authCommand(now, s.auth, "ROLE")
		return err == nil && role == "*3", fmt.Sprintf("ROLE of %s: %s %v", now, role, err)
	}, "a new master other than %s", before)
	return now
}

// sentinelMaster asks one Sentinel for the master's host:port.
func sentinelMaster(addr string) (string, error) {
	conn, err := dialTCP(addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return readAddr(conn, "SENTINEL GET-MASTER-ADDR-BY-NAME "+SentinelMaster)
}

// waitFor polls cond every 20ms until it holds, or fails the test with its
// last detail after timeout.
func waitFor(tb testing.TB, timeout time.Duration, cond func() (bool, string), format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for "+format+" (last: %s)", append(append([]any{timeout}, args...), detail)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
