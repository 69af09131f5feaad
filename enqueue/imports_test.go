package enqueue_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package light for every service that imports it:
// of this module, only tasks, leadsquared, internal/keys, internal/redisconn
// and internal/events.
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/lsqdispatch/lsqdispatch/enqueue").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/lsqdispatch/lsqdispatch/enqueue":       true,
		"github.com/lsqdispatch/lsqdispatch/tasks":         true,
		"github.com/lsqdispatch/lsqdispatch/leadsquared":   true,
		"github.com/lsqdispatch/lsqdispatch/internal/keys": true,
		// asynq and go-redis only: one parser of REDIS_URL for every binary.
		"github.com/lsqdispatch/lsqdispatch/internal/redisconn": true,
		// The event stream's format and consumer group, for EventReader and
		// Inspector.Events: go-redis and the standard library only.
		"github.com/lsqdispatch/lsqdispatch/internal/events": true,
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/lsqdispatch/") && !allowed[p] {
			t.Errorf("enqueue depends on %s", p)
		}
		if strings.Contains(p, "prometheus") || strings.Contains(p, "asynqmon") || strings.Contains(p, "zerolog") {
			t.Errorf("enqueue depends on %s", p)
		}
	}
}
