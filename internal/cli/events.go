package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func (a *app) eventsCmd() *cobra.Command {
	var asJSON bool
	var q enqueue.EventQuery
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the events: each notification's outcome and each campaign's transitions",
		Long: `Print the event stream from its oldest event: what became of each notification
(delivered, dead_lettered, expired, cancelled) and what happened to each
campaign (campaign_started, _paused, _resumed, _cancelled, _completed), one
line each: time, type, account, then ref, campaign, message_id, attempt and
reason where they apply. --json prints one JSON object a line (JSON Lines),
the event as the webhook posts it, with its "id".

--follow keeps printing new events until interrupted. --campaign NAME keeps
the events of the campaigns of that name (in any account). Reading changes
nothing: the events stay for every other reader.

Exit codes: 0 done, or interrupted while following; 2 Redis error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			write := eventLine
			if asJSON {
				write = eventJSON
			}
			w := cmd.OutOrStdout()
			err = c.Events(cmd.Context(), q, func(ev tasks.Event) error { return write(w, ev) })
			if q.Follow && errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return nil // interrupted: the end of a follow
			}
			if err != nil {
				return redisError(err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines: one event a line, with its id")
	cmd.Flags().BoolVarP(&q.Follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().StringVar(&q.Campaign, "campaign", "", "only the events of the campaigns named `NAME`")
	return cmd
}

// eventLine prints an event as one readable line.
func eventLine(w io.Writer, ev tasks.Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-18s  %s", timeString(ev.At), ev.Type, ev.Account)
	for _, f := range []struct{ name, value string }{
		{"ref", ev.Ref}, {"campaign", ev.Campaign}, {"message_id", ev.MessageID},
	} {
		if f.value != "" {
			fmt.Fprintf(&b, "  %s=%s", f.name, f.value)
		}
	}
	if ev.Attempt > 0 {
		fmt.Fprintf(&b, "  attempt=%d", ev.Attempt)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, "  reason=%q", ev.Reason)
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return failed(err)
	}
	return nil
}

// eventJSON prints an event as one line of JSON.
func eventJSON(w io.Writer, ev tasks.Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return failed(err)
	}
	return nil
}
