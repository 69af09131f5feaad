package demo

import (
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
)

// progress is one look at the drain.
type progress struct {
	elapsed time.Duration
	// settled counts the notifications delivered or dead-lettered, of total.
	settled, total int
	// From Redis: tasks delivered (completed), waiting (pending, scheduled
	// or being sent), waiting to retry, and dead-lettered (archived).
	delivered, waiting, retrying, dead int
	// From LeadSquared's side: attempts answered 5xx (retried), and the
	// calls counted in the current window.
	retried, inWindow int
	limit             int
	window            time.Duration
}

// rate is the calls per second over the current window.
func (p progress) rate() float64 { return float64(p.inWindow) / p.window.Seconds() }

// descriptions returns the progress in words, longest first.
func (p progress) descriptions() []string {
	return []string{
		fmt.Sprintf("delivered %d · waiting %d · retried %d · dead-lettered %d · window %d/%d · %.1f calls/s",
			p.delivered, p.waiting+p.retrying, p.retried, p.dead, p.inWindow, p.limit, p.rate()),
		fmt.Sprintf("delivered %d · waiting %d · retried %d · dead %d · window %d/%d",
			p.delivered, p.waiting+p.retrying, p.retried, p.dead, p.inWindow, p.limit),
		fmt.Sprintf("ok %d · wait %d · retried %d · dead %d · %d/%d",
			p.delivered, p.waiting+p.retrying, p.retried, p.dead, p.inWindow, p.limit),
	}
}

// display shows the progress as it goes.
type display interface {
	update(p progress)
	// finish shows the last state and ends the display's line.
	finish(p progress)
}

// lineDisplay prints one plain line every interval, for logs and pipes.
type lineDisplay struct {
	out      io.Writer
	interval time.Duration
	last     time.Duration
	printed  bool
}

func (d *lineDisplay) update(p progress) {
	if d.printed && p.elapsed-d.last < d.interval {
		return
	}
	d.print(p)
}

func (d *lineDisplay) finish(p progress) { d.print(p) }

func (d *lineDisplay) print(p progress) {
	d.last, d.printed = p.elapsed, true
	fmt.Fprintf(d.out, "%6.1fs  %3d%%  %s\n", p.elapsed.Seconds(), percent(p.settled, p.total), p.descriptions()[0])
}

func percent(n, total int) int {
	if total == 0 {
		return 100
	}
	return min(100, n*100/total)
}

// barDisplay draws a progress bar on a terminal of the given width.
type barDisplay struct {
	bar   *progressbar.ProgressBar
	out   io.Writer
	width int
}

// barOverhead is the width of the bar's own parts besides the description:
// percentage, a short bar, the count and the elapsed time.
const barOverhead = 42

func newBarDisplay(out io.Writer, total, width int) *barDisplay {
	width = max(width, 40)
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(20),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetTheme(progressbar.ThemeDefault),
	)
	return &barDisplay{bar: bar, out: out, width: width}
}

func (d *barDisplay) describe(p progress) {
	descs := p.descriptions()
	desc := descs[len(descs)-1]
	for _, s := range descs {
		if utf8.RuneCountInString(s)+barOverhead <= d.width {
			desc = s
			break
		}
	}
	d.bar.Describe(desc)
}

func (d *barDisplay) update(p progress) {
	d.describe(p)
	_ = d.bar.Set(min(p.settled, p.total))
}

func (d *barDisplay) finish(p progress) {
	d.describe(p)
	if p.settled >= p.total {
		_ = d.bar.Set(p.total) // renders and finishes
	} else {
		_ = d.bar.Exit() // stops where it is
	}
	// The bar leaves the cursor on its line: end the line here.
	_, _ = fmt.Fprintln(d.out)
}
