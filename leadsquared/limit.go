package leadsquared

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limit is a rate limit: Calls per sliding Window. LeadSquared grants one
// per plan (Plans) and states one in its rate-limit answers (Error.Limit).
type Limit struct {
	Calls  int
	Window time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.Calls, l.Window) }

// PlanWindow is the window of every plan's limit.
const PlanWindow = 5 * time.Second

// Plan is a LeadSquared plan and the API rate limit it grants.
type Plan struct {
	Name  string
	Limit Limit
}

// plans are LeadSquared's plans, smallest limit first.
var plans = []Plan{
	{"lite", Limit{2, PlanWindow}},
	{"pro", Limit{5, PlanWindow}},
	{"super", Limit{10, PlanWindow}},
	{"basic", Limit{10, PlanWindow}},
	{"standard", Limit{15, PlanWindow}},
	{"enterprise", Limit{25, PlanWindow}},
}

// Plans returns LeadSquared's plans, smallest limit first.
func Plans() []Plan { return slices.Clone(plans) }

// PlanLimit returns the limit of the plan of that name, in any case.
func PlanLimit(name string) (Limit, bool) {
	for _, p := range plans {
		if strings.EqualFold(p.Name, name) {
			return p.Limit, true
		}
	}
	return Limit{}, false
}
