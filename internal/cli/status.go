package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

type statusJSON struct {
	Ref           string `json:"ref"`
	Account       string `json:"account"`
	TaskID        string `json:"task_id"`
	Kind          string `json:"kind,omitempty"`
	Queue         string `json:"queue"`
	State         string `json:"state"`
	Attempts      int    `json:"attempts"`
	MaxRetry      int    `json:"max_retry"`
	LastError     string `json:"last_error,omitempty"`
	LastFailedAt  string `json:"last_failed_at,omitempty"`
	MessageID     string `json:"message_id,omitempty"`
	Response      string `json:"response,omitempty"`
	Unconfirmed   string `json:"unconfirmed,omitempty"`
	NextProcessAt string `json:"next_process_at,omitempty"`
	EnqueuedAt    string `json:"enqueued_at,omitempty"`
	CompletedAt   string `json:"completed_at,omitempty"`
	Campaign      string `json:"campaign,omitempty"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	Dropped       bool   `json:"dropped,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status REF",
		Short: "Show a notification's state, attempts, last error or MessageID",
		Long: `Show what Redis knows about a notification: its state (pending, scheduled,
active, retry, archived, completed, expired), attempts, last error, and LeadSquared's
MessageID once delivered. An unknown ref exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context(), account, args[0])
			if err != nil {
				return a.lookupError(err, account, args[0])
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), statusJSON{Ref: st.Ref, Account: st.Account, TaskID: st.TaskID,
					Kind: string(st.Kind), Queue: st.Queue, State: st.State, Attempts: st.Attempts, MaxRetry: st.MaxRetry,
					LastError: st.LastError, LastFailedAt: timeString(st.LastFailedAt), MessageID: st.MessageID,
					Response: st.Result.Message, Unconfirmed: st.Result.Unconfirmed, NextProcessAt: timeString(st.NextProcessAt),
					EnqueuedAt: timeString(st.EnqueuedAt), CompletedAt: timeString(st.CompletedAt), Campaign: st.Campaign,
					ExpiresAt: expiryString(st.ExpiresAt),
					Dropped:   st.Dropped})
			}
			tw := table(cmd.OutOrStdout())
			row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
			row("ref", st.Ref)
			row("account", st.Account)
			row("task", st.TaskID)
			row("kind", orDash(string(st.Kind)))
			row("queue", st.Queue)
			row("state", st.State)
			if st.Dropped {
				row("dead letter", "dropped by asynq past its archive cap: its body is gone, its ref is free; send it again from its source")
			}
			if st.MaxRetry > 0 {
				row("attempts", strconv.Itoa(st.Attempts)+" failed (of "+strconv.Itoa(st.MaxRetry)+" retries)")
			}
			if st.LastError != "" {
				row("last error", st.LastError+" ("+timeString(st.LastFailedAt)+")")
			}
			if st.MessageID != "" {
				row("message id", st.MessageID)
			}
			if st.Result.Message != "" {
				row("response", st.Result.Message)
			}
			if st.Result.Unconfirmed != "" {
				row("delivered", "unconfirmed, not sent again: "+st.Result.Unconfirmed)
			}
			if t := timeString(st.NextProcessAt); t != "" {
				row("next", t)
			}
			if t := timeString(st.CompletedAt); t != "" {
				row("completed", t)
			}
			if t := timeString(st.EnqueuedAt); t != "" {
				row("enqueued", t)
			}
			if st.Campaign != "" {
				row("campaign", st.Campaign)
			}
			if t := expiryString(st.ExpiresAt); t != "" {
				row("expires", t)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", tasks.DefaultAccount, "the ref's account")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func (a *app) cancelCmd() *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "cancel REF",
		Short: "Drop a notification not yet sent",
		Long: `Drop a notification that is not sent yet (pending, scheduled, retry or
archived): its task and its ref go, so the ref may be used again. A
notification being sent now, one already sent, or an unknown ref exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			ref := args[0]
			switch err := c.Cancel(cmd.Context(), account, ref); {
			case errors.Is(err, enqueue.ErrActive):
				return invalid("cannot cancel ref %s: it is being sent now", ref)
			case errors.Is(err, enqueue.ErrCompleted):
				return invalid("cannot cancel ref %s: it was already sent", ref)
			case err != nil:
				return a.lookupError(err, account, ref)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled: ref %s of account %s\n", ref, account)
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", tasks.DefaultAccount, "the ref's account")
	return cmd
}

// lookupError reports an error of Status or Cancel.
func (a *app) lookupError(err error, account, ref string) error {
	var ve *leadsquared.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			fmt.Fprintln(a.env.Stderr, p.Field+": "+p.Reason)
		}
		return invalid("invalid ref or account")
	case errors.Is(err, enqueue.ErrNotFound):
		return invalid("not found: ref %s of account %s is not known to Redis", ref, account)
	}
	return redisError(err)
}

func expiryString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return timeString(*t)
}
