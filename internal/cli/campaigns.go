package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
)

// campaignVerbs are the subcommands of campaign: a file of one of these
// names is given as ./NAME.
func (a *app) campaignVerbs() []*cobra.Command {
	return []*cobra.Command{a.campaignListCmd(), a.campaignStatusCmd(),
		a.campaignChangeCmd("pause", "Pause a campaign: within a second no worker starts a call for it",
			(*enqueue.Inspector).PauseCampaign),
		a.campaignChangeCmd("resume", "Resume a paused campaign", (*enqueue.Inspector).ResumeCampaign),
		a.campaignChangeCmd("cancel", "Cancel a campaign: what was not sent is recorded cancelled and its refs are freed",
			(*enqueue.Inspector).CancelCampaign)}
}

func (a *app) campaignListCmd() *cobra.Command {
	var account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--account A] [--json]",
		Short: "List the campaigns, newest first (ended ones are kept 7 days)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			list, err := c.Campaigns(cmd.Context(), account)
			if err != nil {
				return failed(err)
			}
			if asJSON {
				out := make([]campaignInfoJSON, 0, len(list))
				for _, info := range list {
					out = append(out, infoJSON(info))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			printCampaignList(cmd.OutOrStdout(), list)
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "only this account's campaigns")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) campaignStatusCmd() *cobra.Command {
	var account string
	var asJSON, watch bool
	cmd := &cobra.Command{
		Use:   "status NAME [--account A] [--json] [--watch]",
		Short: "Show a campaign's state, counts, rate and ETA",
		Long: `Show a campaign's state (running, paused, cancelled, done), its counts (total,
pending, delivered, retrying, dead_lettered, expired, cancelled), the rate it
gets now (its share of its account's limit) and an ETA at that rate. Without
--account, the campaigns of that name in every account are shown. --watch
shows a live progress bar until the campaign ends.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			infos, err := findCampaigns(cmd.Context(), c, account, args[0])
			if err != nil {
				return err
			}
			if watch {
				if infos, err = watchCampaigns(cmd.Context(), c, infos, a.env.Stderr); err != nil {
					return failed(err)
				}
			}
			return printInfos(cmd.OutOrStdout(), infos, asJSON)
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the campaign's account (default: every account with a campaign of that name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&watch, "watch", false, "show a live progress bar until the campaign ends")
	return cmd
}

type changeFunc func(*enqueue.Inspector, context.Context, string, string) (enqueue.CampaignInfo, error)

func (a *app) campaignChangeCmd(verb, short string, change changeFunc) *cobra.Command {
	var account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   verb + " NAME [--account A]",
		Short: short,
		Long: short + `. Every notifyd process sees it within a second; calls
already in flight finish. Without --account, the campaigns of that name in
every account are changed. An unknown campaign exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.control(cmd.Context())
			if err != nil {
				return err
			}
			found, err := findCampaigns(cmd.Context(), c, account, args[0])
			if err != nil {
				return err
			}
			var out []enqueue.CampaignInfo
			for _, f := range found {
				info, err := change(c, cmd.Context(), f.Account, f.Name)
				if errors.Is(err, enqueue.ErrCampaignNotFound) || errors.Is(err, enqueue.ErrCampaignEnded) {
					return invalid("%v", err)
				}
				if err != nil {
					return failed(err)
				}
				out = append(out, info)
			}
			return printInfos(cmd.OutOrStdout(), out, asJSON)
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the campaign's account (default: every account with a campaign of that name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// findCampaigns returns the campaigns named name: of account, or of every
// account when account is "". None is an invalid-input error naming it.
func findCampaigns(ctx context.Context, c *enqueue.Inspector, account, name string) ([]enqueue.CampaignInfo, error) {
	if account != "" {
		info, err := c.CampaignStatus(ctx, account, name)
		if errors.Is(err, enqueue.ErrCampaignNotFound) {
			return nil, invalid("%v", err)
		}
		if err != nil {
			return nil, failed(err)
		}
		return []enqueue.CampaignInfo{info}, nil
	}
	list, err := c.Campaigns(ctx, "")
	if err != nil {
		return nil, failed(err)
	}
	var out []enqueue.CampaignInfo
	for _, info := range list {
		if info.Name == name {
			out = append(out, info)
		}
	}
	if len(out) == 0 {
		return nil, invalid("no campaign named %q in any account (notifyctl campaign list shows the known ones)", name)
	}
	return out, nil
}

// watchCampaigns shows one progress bar over the campaigns until every one
// has ended (or ctx is done), and returns their last status.
func watchCampaigns(ctx context.Context, c *enqueue.Inspector, infos []enqueue.CampaignInfo, w io.Writer) ([]enqueue.CampaignInfo, error) {
	total := func() (n, done int) {
		for _, i := range infos {
			n += i.Counts.Total
			done += i.Counts.Total - i.Counts.Pending - i.Counts.Retrying
		}
		return n, done
	}
	n, _ := total()
	bar := progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
		progressbar.OptionSetDescription(describe(infos)), progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
	defer bar.Exit()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		n, done := total()
		bar.ChangeMax(max(n, 1))
		_ = bar.Set(done)
		bar.Describe(describe(infos))
		if allEnded(infos) {
			return infos, nil
		}
		select {
		case <-ctx.Done():
			return infos, nil
		case <-tick.C:
		}
		for i, info := range infos {
			next, err := c.CampaignStatus(ctx, info.Account, info.Name)
			if err != nil {
				if ctx.Err() != nil {
					return infos, nil
				}
				return infos, err
			}
			infos[i] = next
		}
	}
}

func allEnded(infos []enqueue.CampaignInfo) bool {
	for _, i := range infos {
		if !i.Ended() {
			return false
		}
	}
	return true
}

func describe(infos []enqueue.CampaignInfo) string {
	i := infos[0]
	rate := 0.0
	for _, in := range infos {
		rate += in.RatePerSecond
	}
	return fmt.Sprintf("%s %s %.1f/s eta %s", i.Name, i.State, rate, etaText(i.ETA))
}

func etaText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

func printInfos(w io.Writer, infos []enqueue.CampaignInfo, asJSON bool) error {
	if asJSON {
		if len(infos) == 1 {
			return writeJSON(w, infoJSON(infos[0]))
		}
		out := make([]campaignInfoJSON, 0, len(infos))
		for _, info := range infos {
			out = append(out, infoJSON(info))
		}
		return writeJSON(w, out)
	}
	for i, info := range infos {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printCampaignStatus(w, info)
	}
	return nil
}

func printCampaignStatus(w io.Writer, info enqueue.CampaignInfo) {
	tw := table(w)
	k := info.Counts
	fmt.Fprintf(tw, "campaign\t%s\n", info.Name)
	fmt.Fprintf(tw, "account\t%s\n", info.Account)
	state := info.State
	if info.Enqueuing {
		state += " (still enqueuing)"
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "weight\t%d\n", info.Weight)
	for _, c := range []struct {
		name string
		n    int
	}{{"total", k.Total}, {"pending", k.Pending}, {"delivered", k.Delivered}, {"retrying", k.Retrying},
		{"dead_lettered", k.DeadLettered}, {"expired", k.Expired}, {"cancelled", k.Cancelled}} {
		fmt.Fprintf(tw, "%s\t%d\n", c.name, c.n)
	}
	if k.Unconfirmed > 0 {
		fmt.Fprintf(tw, "unconfirmed\t%d (of delivered)\n", k.Unconfirmed)
	}
	if info.State == enqueue.CampaignRunning {
		fmt.Fprintf(tw, "rate\t%.2f/s (%.0f%% of its account's)\n", info.RatePerSecond, 100*info.Share)
		fmt.Fprintf(tw, "eta\t%s\n", etaText(info.ETA))
	}
	fmt.Fprintf(tw, "started\t%s\n", info.StartedAt.Format(time.RFC3339))
	if !info.EndedAt.IsZero() {
		fmt.Fprintf(tw, "ended\t%s\n", info.EndedAt.Format(time.RFC3339))
	}
	_ = tw.Flush()
}

func printCampaignList(w io.Writer, list []enqueue.CampaignInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no campaigns")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tSTATE\tDONE\tTOTAL\tRATE/S\tETA\tSTARTED")
	for _, i := range list {
		done := i.Counts.Total - i.Counts.Pending - i.Counts.Retrying
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2f\t%s\t%s\n", i.Account, i.Name, i.State, done, i.Counts.Total,
			i.RatePerSecond, etaText(i.ETA), i.StartedAt.Format(time.RFC3339))
	}
	_ = tw.Flush()
}

// campaignInfoJSON is a campaign as --json prints it: the ETA in seconds.
type campaignInfoJSON struct {
	enqueue.CampaignInfo
	ETASeconds float64 `json:"eta_seconds"`
}

func infoJSON(i enqueue.CampaignInfo) campaignInfoJSON {
	return campaignInfoJSON{CampaignInfo: i, ETASeconds: i.ETA.Seconds()}
}
