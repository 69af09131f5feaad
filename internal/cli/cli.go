// Package cli is notifyctl: the shell's and non-Go services' way to enqueue
// and inspect notifications. cmd/notifyctl only calls Run, so tests drive the
// whole CLI in-process with their own streams and environment.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
)

// Exit codes: the external contract.
const (
	// ExitOK: done; a duplicate ref is reported and is not an error.
	ExitOK = 0
	// ExitInvalid: invalid input (each problem printed), an unknown ref, or
	// a notification that cannot be cancelled; nothing was enqueued, except
	// the valid lines of a campaign run with --skip-invalid.
	ExitInvalid = 1
	// ExitError: usage, configuration (REDIS_URL) or Redis error.
	ExitError = 2
)

// Env is what the CLI reads and writes.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (REDIS_URL).
	Getenv func(string) string
	// Terminal says Stderr is a terminal, for the campaign's progress line.
	Terminal bool
}

// OSEnv is the process's own environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: isTerminal(os.Stderr)}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// exitError ends a command with an exit code; its message goes to stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the code cmdline.Execute exits with.
func (e *exitError) ExitCode() int { return e.code }

func invalid(format string, args ...any) error {
	return &exitError{ExitInvalid, fmt.Errorf(format, args...)}
}

func failed(err error) error { return &exitError{ExitError, err} }

// Run runs notifyctl with args (without the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, env Env) int {
	a := &app{env: env}
	root := a.root()
	root.SetIn(env.Stdin)
	code := cmdline.Execute(ctx, root, args, env.Stdout, env.Stderr, a.redact)
	if a.client != nil {
		_ = a.client.Close()
	}
	if a.inspector != nil {
		_ = a.inspector.Close()
	}
	return code
}

type app struct {
	env       Env
	client    *enqueue.Client    // send, campaign, status
	inspector *enqueue.Inspector // cancel, stats, dlq, events
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "notifyctl",
		Short: "Enqueue and inspect LeadSquared notifications",
		Long: `notifyctl enqueues LeadSquared notifications into Redis for notifyd to deliver,
and inspects them. It needs REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0.

Exit codes: 0 done (a duplicate ref is reported and is not an error);
1 invalid input (each problem printed), an unknown ref, or a notification
that cannot be cancelled; 2 usage, configuration or Redis error.` + cmdline.Environment(redisconn.EnvURL),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return &exitError{ExitError, errors.New("")}
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.sendCmd(), a.campaignCmd(), a.statusCmd(), a.cancelCmd(), a.statsCmd(), a.dlqCmd(), a.resumeCmd(), a.eventsCmd())
	return root
}

// redisURL reads REDIS_URL.
func (a *app) redisURL() (string, error) {
	u := a.env.Getenv(redisconn.EnvURL)
	if strings.TrimSpace(u) == "" {
		return "", failed(fmt.Errorf("%s is not set: set it to your Redis, e.g. %s=redis://127.0.0.1:6379/0", redisconn.EnvURL, redisconn.EnvURL))
	}
	return u, nil
}

// connect opens the client on REDIS_URL.
func (a *app) connect(ctx context.Context) (*enqueue.Client, error) {
	u, err := a.redisURL()
	if err != nil {
		return nil, err
	}
	c, err := enqueue.New(ctx, u)
	if err != nil {
		return nil, failed(err)
	}
	a.client = c
	return c, nil
}

// control opens the inspector on REDIS_URL.
func (a *app) control(ctx context.Context) (*enqueue.Inspector, error) {
	u, err := a.redisURL()
	if err != nil {
		return nil, err
	}
	c, err := enqueue.NewInspector(ctx, u)
	if err != nil {
		return nil, failed(err)
	}
	a.inspector = c
	return c, nil
}

// redact hides REDIS_URL's password, should any message repeat it.
func (a *app) redact(msg string) string {
	u, err := url.Parse(a.env.Getenv(redisconn.EnvURL))
	if err != nil || u.User == nil {
		return msg
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// redisError classifies a library error: an unknown ref is the caller's
// mistake (1), anything else is Redis's (2).
func redisError(err error) error {
	if errors.Is(err, enqueue.ErrNotFound) {
		return &exitError{ExitInvalid, err}
	}
	return failed(err)
}
