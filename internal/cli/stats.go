package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

type statsJSON struct {
	At     string       `json:"at"`
	Queues []queueJSON  `json:"queues"`
	Halted []haltedJSON `json:"halted"`
	// HaltedKinds are kinds halted one by one (a wrong path).
	HaltedKinds []haltedKindJSON `json:"halted_kinds"`
}

type haltedKindJSON struct {
	Account string `json:"account"`
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
}

type queueJSON struct {
	Queue         string `json:"queue"`
	Size          int    `json:"size"`
	Pending       int    `json:"pending"`
	Active        int    `json:"active"`
	Scheduled     int    `json:"scheduled"`
	Retry         int    `json:"retry"`
	Archived      int    `json:"archived"`
	Completed     int    `json:"completed"`
	Processed     int    `json:"processed_today"`
	Failed        int    `json:"failed_today"`
	LatencyMillis int64  `json:"latency_ms"`
	Paused        bool   `json:"paused"`
}

type haltedJSON struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

func (a *app) statsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the queues by state and the halted accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			st, err := c.Stats(cmd.Context())
			if err != nil {
				return redisError(err)
			}
			if asJSON {
				j := statsJSON{At: timeString(st.At), Queues: []queueJSON{}, Halted: []haltedJSON{}, HaltedKinds: []haltedKindJSON{}}
				for _, q := range st.Queues {
					j.Queues = append(j.Queues, queueJSON{Queue: q.Queue, Size: q.Size, Pending: q.Pending,
						Active: q.Active, Scheduled: q.Scheduled, Retry: q.Retry, Archived: q.Archived,
						Completed: q.Completed, Processed: q.Processed, Failed: q.Failed,
						LatencyMillis: q.Latency.Milliseconds(), Paused: q.Paused})
				}
				for _, h := range st.Halted {
					j.Halted = append(j.Halted, haltedJSON{h.Account, h.Reason})
				}
				for _, h := range st.HaltedKinds {
					j.HaltedKinds = append(j.HaltedKinds, haltedKindJSON{h.Account, string(h.Kind), h.Reason})
				}
				return writeJSON(cmd.OutOrStdout(), j)
			}
			w := cmd.OutOrStdout()
			tw := table(w)
			fmt.Fprintln(tw, "QUEUE\tSIZE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tARCHIVED\tCOMPLETED\tPROCESSED TODAY\tFAILED TODAY\tLATENCY\tPAUSED")
			for _, q := range st.Queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%t\n", q.Queue, q.Size, q.Pending,
					q.Active, q.Scheduled, q.Retry, q.Archived, q.Completed, q.Processed, q.Failed,
					q.Latency.Round(time.Millisecond), q.Paused)
			}
			if err := tw.Flush(); err != nil {
				return failed(err)
			}
			if len(st.Halted) == 0 && len(st.HaltedKinds) == 0 {
				fmt.Fprintln(w, "\nno account is halted")
				return nil
			}
			if len(st.Halted) > 0 {
				fmt.Fprintln(w, "\nhalted accounts (dispatch waits until LeadSquared accepts their keys again):")
				tw = table(w)
				fmt.Fprintln(tw, "ACCOUNT\tREASON")
				for _, h := range st.Halted {
					fmt.Fprintf(tw, "%s\t%s\n", h.Account, h.Reason)
				}
				if err := tw.Flush(); err != nil {
					return failed(err)
				}
			}
			if len(st.HaltedKinds) > 0 {
				fmt.Fprintln(w, "\nhalted kinds (LeadSquared answers 404 for their path; the account's other kind flows; notifyctl resume ACCOUNT --kind KIND):")
				tw = table(w)
				fmt.Fprintln(tw, "ACCOUNT\tKIND\tREASON")
				for _, h := range st.HaltedKinds {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Account, h.Kind, h.Reason)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
