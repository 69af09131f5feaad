package leadsquared

import (
	"testing"
	"time"
)

// The plans' limits per 5 s, as LeadSquared documents them.
func TestPlanLimit(t *testing.T) {
	t.Parallel()
	want := map[string]int{"lite": 2, "pro": 5, "super": 10, "basic": 10, "standard": 15, "enterprise": 25}
	if got := len(Plans()); got != len(want) {
		t.Errorf("%d plans, want %d", got, len(want))
	}
	for _, p := range Plans() {
		if p.Limit != (Limit{want[p.Name], 5 * time.Second}) {
			t.Errorf("plan %s: %s, want %d/5s", p.Name, p.Limit, want[p.Name])
		}
	}
	for _, name := range []string{"pro", "PRO", "Pro"} {
		if l, ok := PlanLimit(name); !ok || l.String() != "5/5s" {
			t.Errorf("PlanLimit(%q) = %s, %v; want 5/5s", name, l, ok)
		}
	}
	if _, ok := PlanLimit("gold"); ok {
		t.Error(`PlanLimit("gold") found a plan`)
	}
	Plans()[0].Limit.Calls = 99 // a copy: the table stays
	if l, _ := PlanLimit("lite"); l.Calls != 2 {
		t.Errorf("Plans let a caller change the table: lite is %s", l)
	}
}
