package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as a worker process, as the
// notifybench binary does: the harness re-executes os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerArg {
		os.Exit(runWorker(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

func TestMain_Usage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--only", "nope"}, {"extra"}, {"--bogus"}} {
		var out, errs bytes.Buffer
		if code := Main(args, &out, &errs); code != 2 {
			t.Errorf("Main(%q) = %d, want 2 (stderr %q)", args, code, errs.String())
		}
	}
	var out, errs bytes.Buffer
	if code := Main([]string{"-h"}, &out, &errs); code != 0 || !strings.Contains(errs.String(), "--quick") {
		t.Errorf("Main(-h) = %d, stderr %q", code, errs.String())
	}
}

// TestMain_QuickIdle runs one scenario end to end: a private redis-server,
// the sandbox, worker processes, the table and the JSON.
func TestMain_QuickIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and worker processes: a few seconds")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	dir := t.TempDir()
	out, js := filepath.Join(dir, "bench.md"), filepath.Join(dir, "bench.json")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"--quick", "--only", "idle", "--out", out, "--json", js}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, stdout.Bytes()) || !strings.Contains(string(md), "| 4 | 1 process, empty queue | enqueue → arrival p99 |") {
		t.Errorf("the table is missing or differs from stdout:\n%s", md)
	}
	var rep Report
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Error != "" || len(rep.Scenarios[0].Rows) != 2 || rep.Scenarios[0].Rows[0].Project == nil {
		t.Errorf("JSON report: %s", b)
	}
}
