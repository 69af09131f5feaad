package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// sendFlags are the flags both kinds share.
type sendFlags struct {
	ref, account, at string
	bulk, json       bool
	expiry           expiryFlags
}

// expiryFlags are --expires-in and --expires-at, on send and campaign.
type expiryFlags struct {
	in time.Duration
	at string
}

func (e *expiryFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&e.in, "expires-in", 0, "never send it after this long from now, e.g. 10m: record it expired instead")
	cmd.Flags().StringVar(&e.at, "expires-at", "", "never send it after this RFC 3339 time: record it expired instead")
}

// time returns the expiry the flags ask for (zero: none); bad flags are
// invalid input.
func (e *expiryFlags) time() (time.Time, error) {
	switch {
	case e.in != 0 && e.at != "":
		return time.Time{}, invalid("--expires-in and --expires-at: give one of them")
	case e.in < 0:
		return time.Time{}, invalid("expires_at: --expires-in %s is in the past: it would never be sent", e.in)
	case e.in > 0:
		return time.Now().Add(e.in), nil
	case e.at != "":
		t, err := time.Parse(time.RFC3339, e.at)
		if err != nil {
			return time.Time{}, invalid("expires_at: %q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z [--expires-at]", e.at)
		}
		return t, nil
	}
	return time.Time{}, nil
}

func (f *sendFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.ref, "ref", "", "the notification's unique id, its idempotency key (default: a random UUID)")
	cmd.Flags().StringVar(&f.account, "account", tasks.DefaultAccount, "the LeadSquared account that sends it")
	cmd.Flags().BoolVar(&f.bulk, "bulk", false, "use the bulk lane (default: transactional)")
	cmd.Flags().StringVar(&f.at, "at", "", "send at this RFC 3339 time, e.g. 2026-01-02T15:04:05Z (default: now)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	f.expiry.register(cmd)
}

// options turns the flags into send options; a bad --at is invalid input.
func (f *sendFlags) options() ([]enqueue.SendOption, error) {
	opts := []enqueue.SendOption{enqueue.WithAccount(f.account)}
	if f.ref != "" {
		opts = append(opts, enqueue.WithRef(f.ref))
	}
	if f.bulk {
		opts = append(opts, enqueue.Bulk())
	}
	if f.at != "" {
		t, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			return nil, invalid("at: %q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z [--at]", f.at)
		}
		opts = append(opts, enqueue.At(t))
	}
	exp, err := f.expiry.time()
	if err != nil {
		return nil, err
	}
	if !exp.IsZero() {
		opts = append(opts, enqueue.ExpiresAt(exp))
	}
	return opts, nil
}

func (a *app) sendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Enqueue one notification",
		Long: `Enqueue one notification: send system (a Converse system notification) or
send push (a push browser notification). Prints the ref and the task ID. A ref
Redis already knows is reported as a duplicate (exit 0) and nothing is
enqueued. Invalid input prints each problem as "Field: reason" (exit 1).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.sendSystemCmd(), a.sendPushCmd())
	return cmd
}

// flagOf names the flag of each body field, for the problems' hints.
var flagOf = map[string]string{
	"Type": "--type", "ToUser": "--to", "CardContents.Message": "--message",
	"CardContents.Description": "--description", "CardContents.IconColorCode": "--icon-color",
	"CardContents.CTA.CTALabel": "--cta-label", "CardContents.CTA.CTALink": "--cta-link",
	"UserId": "--user", "Title": "--title", "Content": "--content", "Title+Content": "--title, --content",
	"ClickURL": "--click-url", "IconURL": "--icon-url", "ref": "--ref", "account": "--account",
}

func (a *app) sendSystemCmd() *cobra.Command {
	var n leadsquared.SystemNotification
	var ctaLabel, ctaLink string
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "system --to USER --type TYPE --message TEXT [flags]",
		Short: "Enqueue a Converse system notification",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ctaLabel != "" || ctaLink != "" {
				n.CardContents.CTA = &leadsquared.CTA{CTALabel: ctaLabel, CTALink: ctaLink}
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.SendSystem(cmd.Context(), n, opts...)
			return a.sent(cmd.OutOrStdout(), res, err, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&n.ToUser, "to", "", "the recipient's LeadSquared user Id (a GUID; required)")
	fl.StringVar(&n.Type, "type", "", "the event type, e.g. Lead, Opportunity, Activity, Task (required)")
	fl.StringVar(&n.CardContents.Message, "message", "", "the card's text, at most 200 characters (required)")
	fl.StringVar(&n.CardContents.Description, "description", "", "shown under the message, at most 500 characters")
	fl.StringVar(&ctaLabel, "cta-label", "", "the call to action's button text, at most 120 characters")
	fl.StringVar(&ctaLink, "cta-link", "", "the call to action's absolute http(s) URL")
	fl.StringVar(&n.CardContents.IconColorCode, "icon-color", "", `the icon's background colour, e.g. "rgb(247, 79, 103, 0.9)"`)
	f.register(cmd)
	return cmd
}

func (a *app) sendPushCmd() *cobra.Command {
	var n leadsquared.PushNotification
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "push --title TITLE --content TEXT [flags]",
		Short: "Enqueue a push browser notification",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.SendPush(cmd.Context(), n, opts...)
			return a.sent(cmd.OutOrStdout(), res, err, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&n.UserId, "user", "", "the recipient's LeadSquared user Id (a GUID; default: the keys' owner)")
	fl.StringVar(&n.Title, "title", "", "the title (required); title and content together at most 2048 bytes")
	fl.StringVar(&n.Content, "content", "", "the text (required)")
	fl.StringVar(&n.ClickURL, "click-url", "", "an absolute http(s) URL opened on click")
	fl.StringVar(&n.IconURL, "icon-url", "", "an absolute http(s) URL of the icon")
	f.register(cmd)
	return cmd
}

type sendJSON struct {
	Ref       string `json:"ref"`
	Account   string `json:"account"`
	TaskID    string `json:"task_id"`
	Queue     string `json:"queue"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate"`
	ProcessAt string `json:"process_at,omitempty"`
}

// sent reports a send's outcome.
func (a *app) sent(w io.Writer, res enqueue.Result, err error, asJSON bool) error {
	var ve *leadsquared.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			line := p.Field + ": " + p.Reason
			if fl, ok := flagOf[p.Field]; ok {
				line += " [" + fl + "]"
			}
			fmt.Fprintln(a.env.Stderr, line)
		}
		return invalid("invalid notification: nothing was enqueued")
	case err != nil:
		return failed(err)
	}
	if asJSON {
		return writeJSON(w, sendJSON{Ref: res.Ref, Account: res.Account, TaskID: res.TaskID, Queue: res.Queue,
			State: res.State, Duplicate: res.Duplicate, ProcessAt: timeString(res.ProcessAt)})
	}
	if res.Duplicate {
		fmt.Fprintf(w, "duplicate: ref %s already known (state: %s), task %s in queue %s; nothing was enqueued\n",
			res.Ref, res.State, res.TaskID, res.Queue)
		return nil
	}
	fmt.Fprintf(w, "enqueued: ref %s, task %s, queue %s, state %s", res.Ref, res.TaskID, res.Queue, res.State)
	if res.State == "scheduled" {
		fmt.Fprintf(w, " for %s", timeString(res.ProcessAt))
	}
	fmt.Fprintln(w)
	return nil
}
