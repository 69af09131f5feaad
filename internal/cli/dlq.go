package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
)

type deadLetterJSON struct {
	ID           string `json:"id"`
	Queue        string `json:"queue"`
	Kind         string `json:"kind"`
	Ref          string `json:"ref"`
	Account      string `json:"account"`
	Campaign     string `json:"campaign,omitempty"`
	LastError    string `json:"last_error"`
	LastFailedAt string `json:"last_failed_at,omitempty"`
	Attempts     int    `json:"attempts"`
	Summary      string `json:"summary"`
	// Dropped: asynq dropped the task past its archive cap; only its record is left.
	Dropped bool `json:"dropped,omitempty"`
}

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, replay or purge dead letters (archived notifications)",
		Long: `Dead letters are notifications that failed for good: LeadSquared refused them
(400), or every retry was spent. List them with LeadSquared's reason, replay
them after fixing the cause (a fresh start, with the whole retry budget), or
purge them (which frees their refs). IDs are
task IDs, ACCOUNT:REF, as dlq list shows them.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqActionCmd("replay", "Send dead letters again", "replayed",
		(*enqueue.Inspector).ReplayDeadLetters, (*enqueue.Inspector).ReplayAllDeadLetters),
		a.dlqActionCmd("purge", "Delete dead letters and free their refs", "purged",
			(*enqueue.Inspector).PurgeDeadLetters, (*enqueue.Inspector).PurgeAllDeadLetters))
	return cmd
}

func (a *app) dlqListCmd() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, the most recent first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			dl, err := c.DeadLetters(cmd.Context(), limit)
			if err != nil {
				return redisError(err)
			}
			if asJSON {
				out := []deadLetterJSON{}
				for _, d := range dl {
					out = append(out, deadLetterJSON{ID: d.ID, Queue: d.Queue, Kind: string(d.Kind), Ref: d.Ref,
						Account: d.Account, Campaign: d.Campaign, LastError: d.LastError,
						LastFailedAt: timeString(d.LastFailedAt), Attempts: d.Attempts, Summary: d.Summary, Dropped: d.Dropped})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			if len(dl) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no dead letters")
				return nil
			}
			tw := table(cmd.OutOrStdout())
			fmt.Fprintln(tw, "ID\tQUEUE\tKIND\tFAILED AT\tATTEMPTS\tERROR\tSUMMARY")
			for _, d := range dl {
				summary := orDash(d.Summary)
				if d.Dropped {
					summary = "DROPPED by asynq: body gone, ref free"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Queue, orDash(string(d.Kind)),
					orDash(timeString(d.LastFailedAt)), d.Attempts, orDash(oneLine(d.LastError, 80)), summary)
			}
			if err := tw.Flush(); err != nil {
				return failed(err)
			}
			n, err := c.DroppedDeadLetters(cmd.Context())
			if err != nil {
				return redisError(err)
			}
			if n > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\n%d dead letter%s dropped by asynq past its archive cap (10,000 a queue): their bodies are gone and their refs free; "+
					"their records stay here. Send them again from their source; dlq purge removes the records.\n", n, plural(n))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON (an array)")
	cmd.Flags().IntVar(&limit, "limit", enqueue.DefaultDeadLetterLimit, "list at most this many")
	return cmd
}

type (
	dlqByID func(*enqueue.Inspector, context.Context, ...string) (int, error)
	dlqAll  func(*enqueue.Inspector, context.Context) (int, error)
)

func (a *app) dlqActionCmd(verb, short, done string, byID dlqByID, all dlqAll) *cobra.Command {
	var every bool
	cmd := &cobra.Command{
		Use:   verb + " (--all | ID...)",
		Short: short,
		RunE: func(cmd *cobra.Command, ids []string) error {
			switch {
			case every && len(ids) > 0:
				return fmt.Errorf("give --all or IDs, not both")
			case !every && len(ids) == 0:
				return fmt.Errorf("give the IDs to %s (see dlq list), or --all", verb)
			}
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			var n int
			if every {
				n, err = all(c, cmd.Context())
			} else {
				n, err = byID(c, cmd.Context(), ids...)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d dead letter%s\n", done, n, plural(n))
			if err == nil {
				return nil
			}
			var errs interface{ Unwrap() []error }
			list := []error{err}
			if errors.As(err, &errs) {
				list = errs.Unwrap()
			}
			code := ExitInvalid
			for _, e := range list {
				fmt.Fprintln(a.env.Stderr, a.redact(e.Error()))
				if !errors.Is(e, enqueue.ErrNotFound) && !errors.Is(e, enqueue.ErrNotDeadLetter) && !errors.Is(e, enqueue.ErrDropped) {
					code = ExitError
				}
			}
			return &exitError{code, fmt.Errorf("%d of the dead letters could not be %s", len(list), done)}
		},
	}
	cmd.Flags().BoolVar(&every, "all", false, "every dead letter of every lane")
	return cmd
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// oneLine shortens s to n characters on one line.
func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}
