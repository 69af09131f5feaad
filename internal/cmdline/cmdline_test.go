package cmdline_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
)

type parsed struct {
	limit int
	log   bool
	name  string
	size  int
	args  []string
}

// tool is a root with flags and a sub-command with its own, as notifyd and
// its demo are; run is the root's outcome.
func tool(p *parsed, run error) *cobra.Command {
	root := &cobra.Command{Use: "tool", RunE: func(_ *cobra.Command, args []string) error { p.args = args; return run }}
	root.Flags().IntVar(&p.limit, "limit", 25, "calls")
	root.Flags().BoolVar(&p.log, "log", false, "log")
	root.Flags().StringVar(&p.name, "name", "", "name")
	sub := &cobra.Command{Use: "sub", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return nil }}
	sub.Flags().IntVar(&p.size, "size", 1, "size")
	root.AddCommand(sub)
	return root
}

func execute(root *cobra.Command, args ...string) (int, string, string) {
	var out, errw bytes.Buffer
	code := cmdline.Execute(context.Background(), root, args, &out, &errw, func(s string) string { return strings.ReplaceAll(s, "s3cret", "xxxxx") })
	return code, out.String(), errw.String()
}

func TestExecute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		run    error
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"Done", nil, nil, 0, "", ""},
		{"ExitCode", cmdline.Exit(3, errors.New("target missed")), nil, 3, "tool: target missed\n", ""},
		{"ExitCodeSilent", cmdline.Exit(1, nil), nil, 1, "", ""},
		{"Redacted", cmdline.Exit(2, errors.New("redis://:s3cret@h refused")), nil, 2, "tool: redis://:xxxxx@h refused\n", ""},
		{"OtherErrorIsUsage", errors.New("--plan and --limit conflict"), nil, 2, "tool: --plan and --limit conflict\nRun 'tool --help' for usage.\n", ""},
		{"UnknownFlag", nil, []string{"--bogus"}, 2, "tool: unknown flag: --bogus\nRun 'tool --help' for usage.\n", ""},
		{"SubUsage", nil, []string{"sub", "extra"}, 2, "Run 'tool sub --help' for usage.", ""},
		{"Help", nil, []string{"--help"}, 0, "", "Usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p parsed
			code, stdout, stderr := execute(tool(&p, tc.run), tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || (tc.stderr == "" && stderr != "") || !strings.Contains(stdout, tc.stdout) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, stdout with %q, stderr %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// What package flag accepted still works, and a value or what follows --
// is never rewritten.
func TestKeepGoFlagSyntax(t *testing.T) {
	t.Parallel()
	t.Run("OneDashLongFlags", func(t *testing.T) {
		t.Parallel()
		var p parsed
		root := tool(&p, nil)
		cmdline.KeepGoFlagSyntax(root)
		code, _, stderr := execute(root, "-limit", "-1", "-log", "-name", "-log", "-limit=7", "--", "-limit")
		if code != 0 || p.limit != 7 || !p.log || p.name != "-log" || !slices.Equal(p.args, []string{"-limit"}) {
			t.Errorf("exit %d (%s), parsed %+v", code, stderr, p)
		}
	})
	t.Run("SubCommandFlags", func(t *testing.T) {
		t.Parallel()
		var p parsed
		root := tool(&p, nil)
		cmdline.KeepGoFlagSyntax(root)
		if code, _, stderr := execute(root, "sub", "-size", "3"); code != 0 || p.size != 3 {
			t.Errorf("exit %d (%s), size %d", code, stderr, p.size)
		}
	})
	t.Run("Help", func(t *testing.T) {
		t.Parallel()
		for _, h := range []string{"-h", "-help", "--help"} {
			var p parsed
			root := tool(&p, nil)
			cmdline.KeepGoFlagSyntax(root)
			if code, stdout, _ := execute(root, h); code != 0 || !strings.Contains(stdout, "--limit") {
				t.Errorf("%s: exit %d, help %q", h, code, stdout)
			}
		}
	})
	t.Run("UnknownFlagWordedAsPackageFlag", func(t *testing.T) {
		t.Parallel()
		for _, bad := range []string{"-bogus", "--bogus"} {
			var p parsed
			root := tool(&p, nil)
			cmdline.KeepGoFlagSyntax(root)
			code, _, stderr := execute(root, bad)
			if code != 2 || !strings.HasPrefix(stderr, "tool: flag provided but not defined: -bogus\n") {
				t.Errorf("%s: exit %d, stderr %q", bad, code, stderr)
			}
		}
	})
}
