package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps notifyctl a producer's tool: it links the enqueue
// package and the CLI, none of notifyd's worker, UI or metrics code.
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/lsqdispatch/lsqdispatch/cmd/notifyctl").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/lsqdispatch/lsqdispatch/worker",
			"github.com/lsqdispatch/lsqdispatch/internal/config", // links the worker for its Policy
			"github.com/lsqdispatch/lsqdispatch/internal/notifyd",
			"prometheus", "asynqmon", "zerolog",
		} {
			if strings.Contains(p, banned) {
				t.Errorf("notifyctl depends on %s", p)
			}
		}
	}
}
