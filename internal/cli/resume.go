package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func (a *app) resumeCmd() *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "resume ACCOUNT [--kind system|push]",
		Short: "Lift notifyd's halt of an account, or of one kind of its notifications",
		Long: `notifyd halts an account when LeadSquared refuses its keys (401, 403), and one
kind of notification when LeadSquared answers 404 for its API path (a wrong
LSQ_SYSTEM_NOTIFICATION_PATH halts system notifications; push keeps flowing).
Its probes resume dispatch by themselves once the fault is gone; resume lifts
a halt at once, after you fixed the cause. Without --kind it lifts the
account's halt and the halt of each kind. Every notifyd resumes at its next
check (within its probe interval, 30 s); a fault still there halts again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind != "" && kind != string(tasks.KindSystem) && kind != string(tasks.KindPush) {
				return fmt.Errorf("--kind %q: want system or push", kind)
			}
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			lifted, err := c.Resume(cmd.Context(), args[0], tasks.Kind(kind))
			if err != nil {
				return redisError(err)
			}
			w := cmd.OutOrStdout()
			for _, h := range lifted.Halted {
				fmt.Fprintf(w, "resumed account %s (was halted: %s)\n", h.Account, h.Reason)
			}
			for _, h := range lifted.HaltedKinds {
				fmt.Fprintf(w, "resumed %s notifications of account %s (were halted: %s)\n", h.Kind, h.Account, h.Reason)
			}
			if len(lifted.Halted)+len(lifted.HaltedKinds) == 0 {
				fmt.Fprintf(w, "nothing to resume: account %s is not halted\n", args[0])
				return nil
			}
			fmt.Fprintln(w, "notifyd resumes within its probe interval (30 s)")
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "lift only this kind's halt: system or push")
	return cmd
}
