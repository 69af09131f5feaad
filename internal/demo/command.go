package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/notifyd"
)

func init() { notifyd.Commands = append(notifyd.Commands, Command) }

// Command is `notifyd demo`: its flags, its help (on stderr, as before) and
// its run.
func Command(getenv config.Getenv, stdout, stderr io.Writer) *cobra.Command {
	var size int
	var addr string
	var exitWhenDone bool
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "Run a self-contained demo (embedded Redis and LeadSquared sandbox)",
		Long: `notifyd demo runs the whole system on this machine, with nothing to configure:
an embedded Redis, a local LeadSquared with its real limit (25 calls per 5 s) and
some faults, three worker pools, and a campaign enqueued through the producer
library, with a few transactional notifications overtaking it. It shows the
progress and a summary, then keeps the monitoring UI up until Ctrl-C.

Exit codes: 0 nothing lost and the limit held; 1 something was lost, the limit
was exceeded, or it was interrupted; 2 it could not start.` +
			cmdline.Environment(config.EnvUIUser, config.EnvUIPassword, config.EnvUIReadOnly),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdline.Exit(run(cmd.Context(), size, addr, exitWhenDone, getenv, stdout, stderr), nil)
		},
	}
	cmd.SetOut(stderr)
	fs := cmd.Flags()
	fs.IntVar(&size, "size", DefaultSize, "notifications in the campaign (at 5 per second, 200 take about 40 s)")
	fs.StringVar(&addr, "addr", config.DefaultHTTPAddr, "where to serve the monitoring UI, /metrics and health")
	fs.BoolVar(&exitWhenDone, "exit-when-done", false, "exit after the summary instead of serving the UI until Ctrl-C")
	return cmd
}

// Main runs `notifyd demo` with args (after "demo") and returns its exit
// code: 0 when every notification was delivered or dead-lettered and the
// limit held, 1 when not (or when interrupted before the end), and 2 when
// the demo could not start.
func Main(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	root := &cobra.Command{Use: "notifyd"}
	root.AddCommand(Command(getenv, stdout, stderr))
	cmdline.KeepGoFlagSyntax(root)
	return cmdline.Execute(ctx, root, append([]string{"demo"}, args...), stdout, stderr, nil)
}

// run is the demo once its flags are read.
func run(ctx context.Context, size int, addr string, exitWhenDone bool, getenv config.Getenv, stdout, stderr io.Writer) int {
	if size < 1 {
		fmt.Fprintf(stderr, "notifyd demo: --size %d: want at least 1\n", size)
		return 2
	}
	o := Options{Size: size, Addr: addr, Out: stdout,
		UI: config.UI{User: getenv(config.EnvUIUser), Password: getenv(config.EnvUIPassword)}}
	o.UI.ReadOnly, _ = strconv.ParseBool(getenv(config.EnvUIReadOnly))
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Terminal = true
		o.Width, _, _ = term.GetSize(int(f.Fd()))
	}

	d, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "notifyd demo: %v\n", err)
		return 2
	}
	defer d.Close()
	limit, window := d.sandbox.Limit()
	fmt.Fprintf(stdout, "notifyd demo\n")
	fmt.Fprintf(stdout, "  Redis        embedded (miniredis) at %s\n", d.redis.Addr())
	fmt.Fprintf(stdout, "  LeadSquared  sandbox at %s, %d calls per %s, generated keys\n", d.lsqURL, limit, window)
	fmt.Fprintf(stdout, "  faults       3%% of calls answer 500; %d notifications refused (400), %d fail twice\n",
		len(d.campaign.refused), len(d.campaign.flaky))
	fmt.Fprintf(stdout, "  workers      %d pools of %d, sharing one limit\n", len(d.pools), d.opts.Concurrency)
	fmt.Fprintf(stdout, "  UI           http://%s/monitoring/\n", d.Addr())
	fmt.Fprintf(stdout, "  campaigns    http://%s/campaigns/\n", d.Addr())
	fmt.Fprintf(stdout, "  metrics      http://%s/metrics\n", d.Addr())
	if d.LogPath() != "" {
		fmt.Fprintf(stdout, "  logs         %s\n", d.LogPath())
	}
	fmt.Fprintln(stdout)

	sum, err := d.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "notifyd demo: %v\n", err)
		return 1
	}
	code := 0
	if sum.Err() != nil {
		code = 1
	}
	if exitWhenDone || sum.Interrupted || ctx.Err() != nil {
		return code
	}
	fmt.Fprintf(stdout, "\nThe UI stays up until Ctrl-C:\n")
	fmt.Fprintf(stdout, "  http://%s/monitoring/  queues, tasks, dead letters\n", d.Addr())
	fmt.Fprintf(stdout, "  http://%s/campaigns/   campaigns: progress, pause, resume, cancel\n", d.Addr())
	fmt.Fprintf(stdout, "  http://%s/metrics      Prometheus metrics\n", d.Addr())
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping.")
	return code
}
