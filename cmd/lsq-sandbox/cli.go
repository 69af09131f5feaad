package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Environment variables lsq-sandbox reads; the flags win over them.
const (
	envAccessKey = "LSQ_SANDBOX_ACCESS_KEY"
	envSecretKey = "LSQ_SANDBOX_SECRET_KEY"
)

const defaultAddr = "127.0.0.1:8089"

// shutdownTimeout bounds the wait for calls in progress on SIGTERM.
const shutdownTimeout = 5 * time.Second

// planNames lists LeadSquared's plans and their limits per 5 seconds:
// "lite (2), pro (5), … or enterprise (25)".
var planNames = func() string {
	var names []string
	for _, p := range leadsquared.Plans() {
		names = append(names, fmt.Sprintf("%s (%d)", p.Name, p.Limit.Calls))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}()

// options is the parsed command line.
type options struct {
	addr string
	log  bool
	cfg  sandbox.Config
}

// scripts collects repeated --script ref:N:status flags.
type scripts []sandbox.Script

func (s *scripts) String() string {
	if len(*s) == 0 {
		return ""
	}
	return fmt.Sprint(*s)
}

// Type names the flag's value in the help.
func (s *scripts) Type() string { return "ref:N:status" }

// Set parses ref:N:status; the ref may itself hold colons.
func (s *scripts) Set(v string) error {
	i := strings.LastIndexByte(v, ':')
	j := -1
	if i > 0 {
		j = strings.LastIndexByte(v[:i], ':')
	}
	if j <= 0 {
		return errors.New("want ref:N:status, e.g. c-17:1:400")
	}
	n, err1 := strconv.Atoi(v[j+1 : i])
	status, err2 := strconv.Atoi(v[i+1:])
	if err1 != nil || err2 != nil || n < 0 || status < 200 || status > 599 {
		return errors.New("want ref:N:status with N >= 0 and a status from 200 to 599, e.g. c-17:1:400")
	}
	*s = append(*s, sandbox.Script{Ref: v[:j], FirstN: n, Status: status})
	return nil
}

// command is lsq-sandbox's command line: every flag, the help, and the
// checks that turn them into options; then it calls serve with them.
func command(getenv func(string) string, o *options, serve func(options) error) *cobra.Command {
	var plan string
	var sc scripts
	c := &o.cfg
	cmd := &cobra.Command{
		Use:   "lsq-sandbox [flags]",
		Short: "A strict local LeadSquared",
		Long: `A strict local LeadSquared: the push and system notification APIs and the key
check, with LeadSquared's rate limit and answers, and faults on demand. Control
paths: GET /_sandbox/stats, GET /_sandbox/calls, GET|POST /_sandbox/faults,
POST /_sandbox/reset.

Keys: --access-key/--secret-key, or ` + envAccessKey + `/` + envSecretKey + ` (the flags win;
the environment keeps them out of the process list). Without keys any
non-empty pair is accepted.` + cmdline.Environment(envAccessKey, envSecretKey),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The environment is read after parsing: as a flag default it
			// would be printed by --help.
			c.AccessKey = cmp.Or(c.AccessKey, getenv(envAccessKey))
			c.SecretKey = cmp.Or(c.SecretKey, getenv(envSecretKey))
			if plan != "" {
				l, ok := leadsquared.PlanLimit(plan)
				switch {
				case cmd.Flags().Changed("limit"):
					return errors.New("--plan and --limit conflict: give one")
				case !ok:
					return fmt.Errorf("--plan %q: want %s", plan, planNames)
				}
				c.Limit = l.Calls
			}
			if c.Limit == 0 {
				return errors.New("--limit 0 would refuse every call: give a positive limit, or a negative one for none")
			}
			c.Faults.Scripts = sc
			return serve(*o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.addr, "addr", defaultAddr, "listen `address`; anything but loopback is reachable by others")
	fs.StringVar(&c.AccessKey, "access-key", "", "the only access `key` accepted (default $"+envAccessKey+")")
	fs.StringVar(&c.SecretKey, "secret-key", "", "the only secret `key` accepted (default $"+envSecretKey+")")
	fs.IntVar(&c.Limit, "limit", sandbox.DefaultLimit, "calls per access key per window; negative: no limit")
	fs.DurationVar(&c.Window, "window", sandbox.DefaultWindow, "the rate-limit window")
	fs.StringVar(&plan, "plan", "", "set --limit from a LeadSquared `plan`: "+planNames)
	fs.IntVar(&c.DailyCap, "daily-cap", 0, "calls per access key per UTC day; 0: none")
	fs.BoolVar(&c.LimitAs200, "limit-as-200", false, "answer the rate limit with HTTP 200 and its error body, as integrators report")
	fs.StringVar(&c.SystemPath, "system-path", leadsquared.DefaultSystemNotificationPath, "`path` of the system notification API (check it against the account's API docs)")
	fs.DurationVar(&c.Latency, "latency", 0, "delay added to every answer")
	fs.Float64Var(&c.Faults.ErrorRate, "error-rate", 0, "`fraction` of valid calls answered 500")
	fs.Float64Var(&c.Faults.SlowRate, "slow-rate", 0, "`fraction` of valid calls answered after --slow-delay")
	fs.DurationVar(&c.Faults.SlowDelay, "slow-delay", 0, "extra delay of slow answers")
	fs.Float64Var(&c.Faults.TimeoutRate, "timeout-rate", 0, "`fraction` of valid calls delivered but never answered")
	fs.Float64Var(&c.Faults.NonJSONRate, "non-json-rate", 0, "`fraction` of valid calls delivered but answered 200 with a body that is not LeadSquared's JSON")
	fs.IntVar(&c.Faults.Burst429, "burst-429", 0, "answer the next `N` authorized calls with the rate limit")
	fs.DurationVar(&c.Faults.RetryAfter, "retry-after", 0, "Retry-After sent with rate-limit answers; 0: none")
	fs.Var(&sc, "script", "answer the first N valid calls of a ref with a status, as `ref:N:status` (repeatable)")
	fs.Int64Var(&c.Seed, "seed", 0, "seed of the fault rates' randomness")
	fs.IntVar(&c.MaxCalls, "max-calls", sandbox.DefaultMaxCalls, "calls kept for /_sandbox/calls")
	fs.BoolVar(&o.log, "log", false, "print one line per call to stderr (never a key)")
	cmdline.KeepGoFlagSyntax(cmd)
	return cmd
}

// errHelp is parseFlags's answer to --help.
var errHelp = errors.New("help requested")

// parseFlags reads the command line and the environment into options, as
// run does, without serving; the help goes to stderr.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	parsed := false
	cmd := command(getenv, &o, func(options) error { parsed = true; return nil })
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(args)
	cmd.SetOut(stderr)
	cmd.SetErr(stderr)
	if err := cmd.Execute(); err != nil {
		return o, err
	}
	if !parsed {
		return o, errHelp
	}
	return o, nil
}

// run is lsq-sandbox: it serves until ctx is done, then shuts down and
// returns the exit code (0, 1 on failure, 2 on a bad command line). The
// help goes to stderr, as package flag's did.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o options
	cmd := command(getenv, &o, func(o options) error { return serve(ctx, o, stdout, stderr) })
	return cmdline.Execute(ctx, cmd, args, stderr, stderr, nil)
}

// serve serves the sandbox until ctx is done.
func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.log {
		o.cfg.OnCall = callLogger(stderr)
	}
	sb, err := sandbox.New(o.cfg)
	if err != nil {
		return cmdline.Exit(2, errors.New(strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return cmdline.Exit(1, err)
	}
	addr := ln.Addr().String()
	if !isLoopback(ln.Addr()) {
		fmt.Fprintf(stderr, "lsq-sandbox: warning: %s is not a loopback address: whoever reaches it can use the sandbox and its /_sandbox/ control paths\n", addr)
	}
	fmt.Fprintf(stdout, "lsq-sandbox listening on http://%s (%s)\n", addr, limitText(sb, o.cfg.DailyCap))

	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return cmdline.Exit(1, err)
	case <-ctx.Done():
	}
	sb.Close() // release held and delayed calls, so that Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return cmdline.Exit(1, fmt.Errorf("shutdown: %w", err))
	}
	fmt.Fprintln(stderr, "lsq-sandbox: stopped")
	return nil
}

// limitText describes the server's limits, e.g. "limit 25/5s".
func limitText(sb *sandbox.Server, dailyCap int) string {
	limit, window := sb.Limit()
	text := "no limit"
	if limit >= 0 {
		text = fmt.Sprintf("limit %d/%s", limit, window)
	}
	if dailyCap > 0 {
		text += fmt.Sprintf(", daily cap %d", dailyCap)
	}
	return text
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// callLogger returns an OnCall that prints one line per call, e.g.
//
//	2026-03-02T09:00:00.000Z push 200 accepted ref=task-1 user=2f55… key=1a2b3c4d
func callLogger(w io.Writer) func(sandbox.Call) {
	var mu sync.Mutex
	return func(c sandbox.Call) {
		var b strings.Builder
		b.WriteString(c.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
		b.WriteByte(' ')
		b.WriteString(cmp.Or(c.Kind, "-"))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(c.Status))
		switch {
		case c.Accepted:
			b.WriteString(" accepted")
		case c.Counted:
			b.WriteString(" counted")
		}
		for _, kv := range [][2]string{{"path", c.Path}, {"ref", c.Ref}, {"user", c.User}, {"key", c.KeyID},
			{"exception", c.Exception}, {"fault", c.Fault}} {
			if kv[1] != "" && (kv[0] != "path" || c.Kind == "") {
				fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
			}
		}
		if c.Latency > 0 {
			b.WriteString(" latency=" + c.Latency.String())
		}
		if c.Abandoned {
			b.WriteString(" abandoned")
		}
		b.WriteByte('\n')
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, b.String())
	}
}
