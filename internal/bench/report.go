package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is one run of the harness.
type Report struct {
	Mode      string    `json:"mode"` // "full" or "quick"
	Started   time.Time `json:"started"`
	Duration  string    `json:"duration"`
	Machine   Machine   `json:"machine"`
	Command   string    `json:"command"`
	Scenarios []*Result `json:"scenarios"`
}

// Result is one scenario's figures.
type Result struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Setup    string   `json:"setup"`
	Rows     []Row    `json:"rows"`
	Notes    []string `json:"notes,omitempty"`
	Error    string   `json:"error,omitempty"`
	Duration string   `json:"duration"`
}

// Row is one figure of the project beside its baseline's.
type Row struct {
	Case   string `json:"case,omitempty"`
	Metric string `json:"metric"`
	Unit   string `json:"unit,omitempty"`
	// Project and Baseline are the measured values in Unit (nil: none);
	// ProjectText and BaselineText are how the table shows them.
	Project      *float64 `json:"project"`
	Baseline     *float64 `json:"baseline"`
	ProjectText  string   `json:"project_text"`
	BaselineText string   `json:"baseline_text"`
	// Ratio is Project / Baseline.
	Ratio  *float64 `json:"ratio,omitempty"`
	Target string   `json:"target,omitempty"`
	// Met says whether the project met Target (nil: no target).
	Met *bool `json:"met,omitempty"`
}

// row builds a Row from project and baseline values (NaN: none).
func row(kase, metric, unit string, project, baseline float64) Row {
	r := Row{Case: kase, Metric: metric, Unit: unit}
	if !math.IsNaN(project) {
		r.Project = &project
		r.ProjectText = format(project, unit)
	}
	if !math.IsNaN(baseline) {
		r.Baseline = &baseline
		r.BaselineText = format(baseline, unit)
	}
	if r.Project != nil && r.Baseline != nil && baseline != 0 {
		q := project / baseline
		r.Ratio = &q
	}
	return r
}

// target sets the row's target and whether it was met.
func (r Row) target(text string, met bool) Row {
	r.Target, r.Met = text, &met
	return r
}

// none marks a missing value.
var none = math.NaN()

// format shows a value in its unit.
func format(v float64, unit string) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
	case "ms":
		if v >= 10_000 {
			return strconv.FormatFloat(v/1000, 'f', 1, 64) + " s"
		}
		if v >= 100 {
			return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
		}
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	case "B":
		switch {
		case v >= 1<<30:
			return strconv.FormatFloat(v/(1<<30), 'f', 2, 64) + " GiB"
		case v >= 1<<20:
			return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB"
		case v >= 10<<10:
			return strconv.FormatFloat(v/(1<<10), 'f', 1, 64) + " KiB"
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	case "/s", "lines/s", "deliveries/s":
		return thousands(int64(math.Round(v))) + " " + unit
	case "µs":
		return strconv.FormatFloat(v, 'f', 0, 64) + " µs"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return thousands(int64(v))
	}
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ratioText(r *float64) string {
	switch {
	case r == nil:
		return "—"
	case *r == 0:
		return "0"
	case *r >= 100:
		return strconv.FormatFloat(*r, 'f', 0, 64)
	case *r >= 0.1:
		return strconv.FormatFloat(*r, 'f', 2, 64)
	}
	return strconv.FormatFloat(*r, 'g', 2, 64)
}

func metText(m *bool, quick bool) string {
	switch {
	case m == nil:
		return ""
	case quick && *m:
		return "(yes)"
	case quick:
		return "(no)"
	case *m:
		return "yes"
	}
	return "**NO**"
}

func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

// WriteMarkdown writes the table, then each scenario's setup and notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	quick := r.Mode == "quick"
	var b strings.Builder
	fmt.Fprintf(&b, "notifybench, %s mode, %s (%s). Machine: %s.\n\n", r.Mode,
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Duration, r.Machine.Summary())
	if quick {
		b.WriteString("Quick mode: tiny sizes and scaled windows, for a smoke test; the targets are shown, not asserted, and the figures are not comparable with the full mode's.\n\n")
	}
	b.WriteString("| # | case | metric | project | baseline | project/baseline | target | met |\n")
	b.WriteString("|---|---|---|--:|--:|--:|---|---|\n")
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(&b, "| %s | — | %s | harness error: %s | | | | |\n", s.ID, cell(s.Title), cell(s.Error))
		}
		for _, x := range s.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.ID, cell(x.Case), cell(x.Metric),
				cell(x.ProjectText), cell(x.BaselineText), ratioText(x.Ratio), cell(x.Target), metText(x.Met, quick))
		}
	}
	b.WriteString("\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "- **%s. %s** (%s): %s", s.ID, s.Title, s.Duration, s.Setup)
		for _, n := range s.Notes {
			b.WriteString(" " + n)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// missed lists the rows whose target was missed.
func (r *Report) missed() []string {
	var out []string
	for _, s := range r.Scenarios {
		for _, x := range s.Rows {
			if x.Met != nil && !*x.Met {
				out = append(out, fmt.Sprintf("%s %s %s: %s (target %s)", s.ID, x.Case, x.Metric, x.ProjectText, x.Target))
			}
		}
	}
	return out
}
