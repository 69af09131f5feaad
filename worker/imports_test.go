package worker_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the layering the README's Architecture draws: the worker
// builds on tasks and leadsquared, never on the producer library or the
// programs above it.
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/lsqdispatch/lsqdispatch/worker").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/lsqdispatch/lsqdispatch/worker":        true,
		"github.com/lsqdispatch/lsqdispatch/tasks":         true,
		"github.com/lsqdispatch/lsqdispatch/leadsquared":   true,
		"github.com/lsqdispatch/lsqdispatch/internal/keys": true,
		// go-redis only: the campaign registry and the event stream.
		"github.com/lsqdispatch/lsqdispatch/internal/campaign": true,
		"github.com/lsqdispatch/lsqdispatch/internal/events":   true,
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/lsqdispatch/") && !allowed[p] {
			t.Errorf("worker depends on %s", p)
		}
	}
}
