package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReport_WriteMarkdown(t *testing.T) {
	t.Parallel()
	rep := &Report{Mode: "full", Started: t0, Duration: "1m0s", Scenarios: []*Result{{
		ID: "2", Title: "Redis cost", Setup: "3 processes.", Duration: "35s",
		Rows: []Row{
			row("3 × 20", "commands per delivery", "", 7.5, 75).target("≤ 12", true),
			row("3 × 20", "utilization", "%", 0.981, none).target("≥ 97%", true),
			row("3 × 20", "p99", "ms", 1250, 0.5),
		},
	}, {ID: "5", Title: "Enqueue", Error: "redis-server is not installed"}}}
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 2 | 3 × 20 | commands per delivery | 7.5 | 75 | 0.10 | ≤ 12 | yes |",
		"| 2 | 3 × 20 | utilization | 98.1% | — | — | ≥ 97% | yes |",
		"| 2 | 3 × 20 | p99 | 1250 ms | 0.5 ms | 2500 | — |  |",
		"| 5 | — | Enqueue | harness error: redis-server is not installed |",
		"- **2. Redis cost** (35s): 3 processes.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if m := rep.missed(); len(m) != 0 {
		t.Errorf("missed = %v, want none", m)
	}
}

func TestReport_WriteJSON(t *testing.T) {
	t.Parallel()
	rep := &Report{Mode: "quick", Started: t0, Scenarios: []*Result{{ID: "6", Rows: []Row{
		row("", "bytes", "B", 900, 800).target("≤ 1 KiB", true),
		row("", "rss", "B", 70<<20, none).target("≤ 64 MiB", false),
	}}}}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	r := back.Scenarios[0].Rows
	if *r[0].Project != 900 || *r[0].Ratio != 1.125 || r[1].Baseline != nil || *r[1].Met {
		t.Errorf("JSON round trip: %+v", r)
	}
	if m := rep.missed(); len(m) != 1 || !strings.Contains(m[0], "70.0 MiB") {
		t.Errorf("missed = %v", m)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234567, "lines/s", "1,234,567 lines/s"},
		{612, "B", "612 B"},
		{64 << 20, "B", "64.0 MiB"},
		{0.9712, "%", "97.1%"},
		{42.25, "ms", "42.2 ms"},
		{45000, "ms", "45.0 s"},
		{3, "", "3"},
		{41.83, "", "41.8"},
		{-1200, "", "-1,200"},
	} {
		if got := format(c.v, c.unit); got != c.want {
			t.Errorf("format(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
