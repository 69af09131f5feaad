package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
)

func (a *app) campaignCmd() *cobra.Command {
	var o enqueue.CampaignOptions
	var asJSON bool
	var expiry expiryFlags
	cmd := &cobra.Command{
		Use:   "campaign FILE|- | campaign list|status|pause|resume|cancel …",
		Short: "Enqueue a campaign: JSON Lines, one notification a line",
		Long: `Enqueue a campaign from a JSON Lines file (or - for standard input), one
notification a line, to the bulk lane:

  {"type":"system","ref":"lead-42","body":{"Type":"Lead","ToUser":"…","CardContents":{"Message":"…"}}}
  {"type":"push","ref":"sig-7","body":{"Title":"…","Content":"…"}}

Optional per line: "account", "at" and "expires_at" (RFC 3339; a line not sent
by its expiry is never sent, and is recorded expired; --expires-in and
--expires-at give the lines without one theirs). Field names are
case-sensitive, LeadSquared's own in the body. Every line is checked first;
each problem is printed as "line N: Field: reason" and, unless --skip-invalid,
nothing is enqueued (exit 1). With --skip-invalid the valid lines are
enqueued, and the exit code is still 1 when a line was invalid. Refs already
known (in the file or in Redis) are counted as duplicates.

Each account's rate is shared between its running campaigns, equally unless
--weight says otherwise: a campaign of weight 3 gets three calls for every
one of a campaign of weight 1. A campaign never waits for an earlier one to
finish, and transactional sends go first.

A campaign without --name gets a generated name, printed. A name is unique
per account while its campaign runs or is paused: reusing it exits 1.
The verbs list, status, pause, resume and cancel steer campaigns; a file of
one of those names is given as ./status.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Weight < 1 || o.Weight > enqueue.MaxWeight {
				return invalid("--weight %d: a campaign's weight is from 1 to %d", o.Weight, enqueue.MaxWeight)
			}
			exp, err := expiry.time()
			if err != nil {
				return err
			}
			o.ExpiresAt = exp
			in := a.env.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return failed(fmt.Errorf("campaign: %w", err))
				}
				defer f.Close()
				in = f
			}
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			p := newProgress(a.env.Stderr, a.env.Terminal)
			o.Progress = p.update
			rep, err := c.Campaign(cmd.Context(), in, o)
			p.done()
			for _, pr := range rep.Problems {
				fmt.Fprintln(a.env.Stderr, pr.Error())
			}
			if more := rep.ProblemCount - len(rep.Problems); more > 0 {
				fmt.Fprintf(a.env.Stderr, "… and %d more problems\n", more)
			}
			switch {
			case errors.Is(err, enqueue.ErrCampaignExists):
				return invalid("%v", err)
			case errors.Is(err, enqueue.ErrInvalidCampaign):
				return invalid("%d of %d lines are invalid; nothing was enqueued (fix them, or use --skip-invalid to enqueue the rest)", rep.Invalid, rep.Lines)
			case err != nil && !rep.Checked:
				return failed(err)
			}
			if asJSON {
				if jerr := writeJSON(cmd.OutOrStdout(), campaignJSONOf(rep)); jerr != nil {
					return jerr
				}
			} else {
				printCampaign(cmd.OutOrStdout(), rep)
			}
			switch {
			case err != nil:
				return failed(err)
			case rep.Invalid > 0:
				return invalid("%d of %d lines are invalid and were skipped", rep.Invalid, rep.Lines)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "the campaign's name, recorded in every task (default: a generated name, printed)")
	expiry.register(cmd)
	cmd.Flags().IntVar(&o.Weight, "weight", 1, "the campaign's share of its account's rate against the account's other running campaigns (1 to 1000)")
	cmd.Flags().BoolVar(&o.SkipInvalid, "skip-invalid", false, "enqueue the valid lines even when some are invalid")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.AddCommand(a.campaignVerbs()...)
	return cmd
}

func linesPerSecond(rep enqueue.CampaignReport) float64 {
	if rep.Duration <= 0 {
		return 0
	}
	return float64(rep.Lines) / rep.Duration.Seconds()
}

func printCampaign(w io.Writer, rep enqueue.CampaignReport) {
	tw := table(w)
	if rep.Name != "" {
		fmt.Fprintf(tw, "campaign\t%s\n", rep.Name)
	}
	fmt.Fprintf(tw, "lines\t%d\n", rep.Lines)
	fmt.Fprintf(tw, "enqueued\t%d\n", rep.Enqueued)
	fmt.Fprintf(tw, "duplicates\t%d\n", rep.Duplicates)
	fmt.Fprintf(tw, "invalid\t%d\n", rep.Invalid)
	fmt.Fprintf(tw, "duration\t%s\n", rep.Duration.Round(time.Millisecond))
	fmt.Fprintf(tw, "lines/s\t%.0f\n", linesPerSecond(rep))
	_ = tw.Flush()
}

type campaignJSON struct {
	Name           string     `json:"name,omitempty"`
	Lines          int        `json:"lines"`
	Valid          int        `json:"valid"`
	Invalid        int        `json:"invalid"`
	Enqueued       int        `json:"enqueued"`
	Duplicates     int        `json:"duplicates"`
	Problems       []lineJSON `json:"problems"`
	ProblemCount   int        `json:"problem_count"`
	DurationMillis int64      `json:"duration_ms"`
	LinesPerSecond float64    `json:"lines_per_second"`
}

type lineJSON struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func campaignJSONOf(rep enqueue.CampaignReport) campaignJSON {
	j := campaignJSON{Name: rep.Name, Lines: rep.Lines, Valid: rep.Valid, Invalid: rep.Invalid,
		Enqueued: rep.Enqueued, Duplicates: rep.Duplicates, Problems: []lineJSON{}, ProblemCount: rep.ProblemCount,
		DurationMillis: rep.Duration.Milliseconds(), LinesPerSecond: float64(int(linesPerSecond(rep)))}
	for _, p := range rep.Problems {
		j.Problems = append(j.Problems, lineJSON{p.Line, p.Field, p.Reason})
	}
	return j
}

// progress shows one self-updating line on a terminal, at most five times a
// second: plain text, no dependency for a cosmetic feature of a command that
// scripts mostly run without a terminal. Elsewhere it is silent.
type progress struct {
	w     io.Writer
	on    bool
	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, terminal bool) *progress { return &progress{w: w, on: terminal} }

func (p *progress) update(r enqueue.CampaignReport) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = time.Now(), true
	if !r.Checked {
		fmt.Fprintf(p.w, "\r\033[Kchecking: %d lines, %d invalid", r.Lines, r.Invalid)
		return
	}
	done := r.Enqueued + r.Duplicates
	fmt.Fprintf(p.w, "\r\033[Kenqueuing: %d of %d (%d%%), %d duplicates", done, r.Valid, 100*done/max(r.Valid, 1), r.Duplicates)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
