package testutil

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a private Redis Cluster of masters only, on loopback ports.
type Cluster struct {
	// Nodes are the masters; Nodes[i] serves the i-th equal share of the
	// 16384 slots.
	Nodes []*Node
	// URL is redis-cluster://every node, for redisconn.Parse.
	URL string
}

// StartCluster starts masters redis-server processes with cluster-enabled,
// splits the slots evenly, joins them (CLUSTER ADDSLOTSRANGE and CLUSTER
// MEET, so redis-cli is not needed) and waits until every node reports
// cluster_state:ok. The nodes are killed at the end of the test. REDIS_URL
// does not apply.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 1 {
		tb.Fatalf("StartCluster: %d masters", masters)
	}
	start := time.Now()
	c := &Cluster{}
	buses := make([]int, masters)
	for i := 0; i < masters; i++ {
		dir := tb.TempDir()
		n := startNode(tb, dir, func(port int) []string {
			buses[i] = FreePort(tb)
			return append([]string{"--port", strconv.Itoa(port), "--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(buses[i]),
				"--cluster-node-timeout", "2000"}, baseArgs(dir)...)
		}, plainReady)
		c.Nodes = append(c.Nodes, n)
	}
	const slots = 16384
	for i, n := range c.Nodes {
		from, to := i*slots/masters, (i+1)*slots/masters-1
		if _, err := tcpCommand(n.Addr, fmt.Sprintf("CLUSTER ADDSLOTSRANGE %d %d", from, to)); err != nil {
			tb.Fatalf("cluster node %s: ADDSLOTSRANGE: %v", n.Addr, err)
		}
	}
	// Every node meets every other at once: gossip alone takes seconds.
	for i, n := range c.Nodes {
		for j, m := range c.Nodes {
			if i == j {
				continue
			}
			host, port, _ := strings.Cut(m.Addr, ":")
			if _, err := tcpCommand(n.Addr, fmt.Sprintf("CLUSTER MEET %s %s %d", host, port, buses[j])); err != nil {
				tb.Fatalf("cluster node %s: MEET: %v", n.Addr, err)
			}
		}
	}
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	c.URL = "redis-cluster://" + strings.Join(addrs, ",")
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, err := tcpCommand(n.Addr, "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", masters)) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s not ok after 20s: %q %v\n%s", n.Addr, info, err, tail(n.Log))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Logf("cluster of %d masters ok after %s", masters, time.Since(start).Round(time.Millisecond))
	return c
}

// NodeOf returns the node that serves key's slot.
func (c *Cluster) NodeOf(key string) *Node {
	slot, m := KeySlot(key), len(c.Nodes)
	for i := range c.Nodes {
		if slot <= (i+1)*16384/m-1 {
			return c.Nodes[i]
		}
	}
	return c.Nodes[m-1]
}

// KeySlot is Redis Cluster's slot of key: CRC16 of its {hash tag} (or the
// whole key) modulo 16384.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
