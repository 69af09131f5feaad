// Package cmdline is how every binary of the module (notifyd, notifyctl,
// lsq-sandbox, notifybench) reads its command line: with cobra, in one
// style.
//
//   - Each binary builds one cobra command tree and defines all of its
//     flags where it builds the command; main only calls a Run function
//     that takes the arguments, the environment and the streams, so that
//     tests drive the whole command line in-process.
//   - --help (and -h, and the help command) is cobra's, from each command's
//     Short, Long and flags; it ends with the environment variables the
//     command reads. Environment variables are read through an injected
//     getenv after the flags are parsed, so that help never shows their
//     values; a flag wins over its variable.
//   - Execute maps the outcome to an exit code: 0; an ExitError's code (its
//     message printed as "NAME: message"); or 2 for a usage error (cobra's,
//     or any other error a command returns), printed with a pointer to the
//     command's --help.
//
// The binaries that read their flags with package flag before keep
// accepting its syntax (KeepGoFlagSyntax).
package cmdline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// UsageCode is the exit code of a usage error.
const UsageCode = 2

// ExitCoder is an error that ends a command with its exit code; Execute
// prints the error's text, if any, as "NAME: message". ExitError is one.
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitError ends a command with an exit code and an optional error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode implements ExitCoder.
func (e *ExitError) ExitCode() int { return e.Code }

// Exit returns an error that ends the command with code, printing err (nil
// for nothing). Exit(0, nil) is nil.
func Exit(code int, err error) error {
	if code == 0 && err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Execute runs root with args and returns the exit code. Help goes to out,
// errors to errw; redact, when set, filters every message Execute prints.
func Execute(ctx context.Context, root *cobra.Command, args []string, out, errw io.Writer, redact func(string) string) int {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	root.SilenceErrors, root.SilenceUsage = true, true
	if root.Annotations[goFlagSyntax] != "" {
		args = goArgs(root, args)
	}
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errw)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ec ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(errw, root.Name()+": "+redact(msg))
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(errw, "%s: %s\nRun '%s --help' for usage.\n", root.Name(), redact(err.Error()), cmd.CommandPath())
	return UsageCode
}

// goFlagSyntax marks a root command for KeepGoFlagSyntax.
const goFlagSyntax = "cmdline.go-flag-syntax"

// KeepGoFlagSyntax keeps what a binary's users could write when it read its
// flags with package flag: a long flag with one dash (-limit 5, -quick), and
// the wording of an unknown flag's error ("flag provided but not defined:
// -x"). Call it on the root command before Execute.
func KeepGoFlagSyntax(root *cobra.Command) {
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[goFlagSyntax] = "true"
	root.SetFlagErrorFunc(goFlagError)
}

// goFlagError words an unknown flag as package flag does; it applies to
// every command under the root.
func goFlagError(_ *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		name := ne.GetSpecifiedName()
		if short := ne.GetSpecifiedShortnames(); short != "" {
			name = short // -bogus, which pflag reads as -b -o -g …
		}
		return fmt.Errorf("flag provided but not defined: -%s", name)
	}
	return err
}

// goArgs rewrites -name and -name=value into --name and --name=value when
// name is a long flag of the command the arguments run, as package flag
// read them; a flag's value and everything after "--" stay as they are.
func goArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	cmd.InitDefaultHelpFlag() // cobra adds --help only as it executes
	lookup := func(name string) *pflag.Flag {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f
		}
		return cmd.InheritedFlags().Lookup(name)
	}
	out := make([]string, 0, len(args))
	takesValue := false // the previous argument is a flag whose value is this one
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if takesValue {
			out, takesValue = append(out, a), false
			continue
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && lookup(strings.SplitN(a[1:], "=", 2)[0]) != nil {
			a = "-" + a
		}
		if name, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(name, "=") {
			if f := lookup(name); f != nil && f.NoOptDefVal == "" {
				takesValue = true
			}
		}
		out = append(out, a)
	}
	return out
}

// Environment is the help's paragraph on the environment variables a
// command reads, to end its Long text.
func Environment(vars ...string) string {
	if len(vars) == 0 {
		return "\n\nEnvironment: none."
	}
	return "\n\nEnvironment: " + strings.Join(vars, ", ") + "."
}
