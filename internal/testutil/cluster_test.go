package testutil

import (
	"fmt"
	"strconv"
	"testing"
)

func TestStartCluster_SlotsAndKeySlot(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	for _, key := range []string{"123456789", "foo", "lsqd:{default}:slots", "asynq:{bulk}:pending", "asynq:queues", "{}", "a{}b", "{a}}"} {
		got, err := tcpCommand(c.Nodes[0].Addr, fmt.Sprintf("CLUSTER KEYSLOT %s", key))
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(KeySlot(key)); got != ":"+want {
			t.Errorf("KeySlot(%q) = %s, Redis says %s", key, want, got)
		}
		// The node NodeOf names accepts the key; the others redirect.
		if _, err := tcpCommand(c.NodeOf(key).Addr, "GET "+key); err != nil {
			t.Errorf("NodeOf(%q) = %s: %v", key, c.NodeOf(key).Addr, err)
		}
	}
}
