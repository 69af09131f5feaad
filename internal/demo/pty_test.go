package demo_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// buildNotifyd builds cmd/notifyd into a temporary directory.
func buildNotifyd(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "notifyd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/notifyd")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/notifyd: %v\n%s", err, out)
	}
	return bin
}

// csi matches one complete ANSI control sequence (ESC [ params final).
var csi = regexp.MustCompile(`\x1b\[[0-9;?]*[@-~]`)

// In a terminal the demo draws a progress bar, then prints a summary table,
// and leaves the terminal clean: no escape sequence cut short, the cursor
// at the start of a fresh line.
func TestNotifydDemo_InATerminal(t *testing.T) {
	t.Parallel()
	bin := buildNotifyd(t)
	cmd := exec.Command(bin, "demo", "--size", "20", "--exit-when-done", "--addr", "127.0.0.1:0")
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "TMPDIR="+dir) // the demo's log file goes to TMPDIR
	cmd.Dir = dir
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("start in a pty: %v", err)
	}
	defer tty.Close()

	var out bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&out, tty)
		read <- err
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("notifyd demo --size 20 did not end within 90s; output so far:\n%s", out.String())
	}
	// Reading a pty whose child has exited ends with EIO on Linux.
	if rerr := <-read; rerr != nil && !errors.Is(rerr, syscall.EIO) {
		t.Errorf("read the pty: %v", rerr)
	}
	text := out.String()
	if err != nil {
		t.Fatalf("notifyd demo: %v\n%s", err, text)
	}
	t.Logf("terminal output:\n%s", text)

	// The bar is drawn in place and reaches its end.
	if !regexp.MustCompile(`\r\s*100% \|█{20}\| \(24/24\) \[\d+s\] delivered 22 · waiting 0`).MatchString(text) {
		t.Errorf("no finished progress bar (100%% |████…| (24/24)) in the output")
	}
	if strings.Count(text, "\r ") < 3 {
		t.Errorf("the bar was not redrawn in place (\\r) as it moved")
	}
	if regexp.MustCompile(`(?m)^\s*\d+\.\ds\s+\d+%  delivered`).MatchString(text) {
		t.Errorf("plain progress lines printed on a terminal")
	}
	// The summary table follows the bar on lines of its own.
	summary := strings.Index(text, "Summary: 20 campaign lines")
	if summary < 0 {
		t.Fatalf("no summary in the output")
	}
	lastBar := strings.LastIndex(text[:summary], "|")
	if lastBar < 0 || !strings.Contains(text[lastBar:summary], "\n") {
		t.Errorf("the summary starts on the bar's line")
	}
	for _, row := range []string{"delivered                     22", "dead-lettered                  2",
		"lost                           0", "rate-limited (429)             0", "max calls in a 5s window",
		"transactional latency     p50 ", "OK: nothing lost"} {
		if !strings.Contains(text[summary:], row) {
			t.Errorf("summary lacks %q", row)
		}
	}
	// Nothing but complete escape sequences, and a clean end.
	if rest := csi.ReplaceAllString(text, ""); strings.ContainsRune(rest, '\x1b') {
		i := strings.IndexRune(rest, '\x1b')
		t.Errorf("an incomplete escape sequence: %q", rest[i:min(i+12, len(rest))])
	}
	if !strings.HasSuffix(text, "\r\n") || strings.HasSuffix(text, "\r\n\r\n\r\n") {
		t.Errorf("the output does not end with exactly one line break: %q", text[max(0, len(text)-40):])
	}
	for _, c := range []string{"\x1b[?25l", "\x1b[?1049h"} { // hidden cursor, alternate screen
		if strings.Count(text, c) > 0 {
			t.Errorf("the demo leaves the terminal changed (%q)", c)
		}
	}
}
