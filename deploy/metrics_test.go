package deploy

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// metric is one metric family the dashboards and alerts may use.
type metric struct {
	Labels    []string
	Histogram bool // queried as NAME_bucket{le}, NAME_count and NAME_sum
}

// knownMetrics is the allow-list of metrics notifyd exports, as the
// dashboards and alerts see them: lsqd_* from worker.NewMetrics and notifyd,
// asynq_* from github.com/hibiken/asynq/x/metrics.QueueMetricsCollector
// (names read from its source). TestKnownMetrics_MatchWorker checks the
// lsqd_* entries against worker.NewMetrics.
var knownMetrics = map[string]metric{
	"lsqd_deliveries_total":                     {Labels: []string{"kind", "lane", "account", "outcome"}},
	"lsqd_leadsquared_request_duration_seconds": {Labels: []string{"kind", "account", "code"}, Histogram: true},
	"lsqd_limiter_wait_seconds":                 {Labels: []string{"account", "lane"}, Histogram: true},
	"lsqd_rate_limited_total":                   {Labels: []string{"account"}},
	"lsqd_cooldowns_total":                      {Labels: []string{"account"}},
	"lsqd_account_halted":                       {Labels: []string{"account"}},
	"lsqd_operation_halted":                     {Labels: []string{"account", "kind"}},
	"lsqd_rate_limit_calls":                     {Labels: []string{"account"}},
	"lsqd_rate_limit_window_seconds":            {Labels: []string{"account"}},
	"lsqd_dead_letters":                         {Labels: []string{"queue"}},
	"lsqd_dispatch_released_total":              {Labels: []string{"account"}},
	"lsqd_dead_letters_dropped":                 {},
	"lsqd_campaigns":                            {Labels: []string{"state"}},
	"lsqd_campaign_notifications":               {Labels: []string{"account", "campaign", "state", "count"}},

	// asynq's queue gauges: every replica exports the same values, read from
	// Redis, so queries combine them with max. tasks_enqueued_total is a
	// gauge despite its name.
	"asynq_tasks_enqueued_total":            {Labels: []string{"queue", "state"}},
	"asynq_queue_size":                      {Labels: []string{"queue"}},
	"asynq_queue_latency_seconds":           {Labels: []string{"queue"}},
	"asynq_queue_memory_usage_approx_bytes": {Labels: []string{"queue"}},
	"asynq_tasks_processed_total":           {Labels: []string{"queue"}},
	"asynq_tasks_failed_total":              {Labels: []string{"queue"}},
	"asynq_queue_paused_total":              {Labels: []string{"queue"}},

	// Prometheus's own, per scrape target.
	"up": {},
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// promJobNotifyd is the scrape job of notifyd in every setup (compose's
// prometheus.yml, the ServiceMonitor): alerts select up{job="notifyd"}.
const promJobNotifyd = "notifyd"

// labelValues are the values queries may compare labels with (= and !=).
func labelValues() map[string][]string {
	lanes := slices.Sorted(maps.Keys(tasks.Queues))
	return map[string][]string{
		"outcome": {
			string(worker.OutcomeDelivered), string(worker.OutcomeDeliveredUnconfirmed), string(worker.OutcomeRetried), string(worker.OutcomeRateLimited),
			string(worker.OutcomeArchived), string(worker.OutcomeHalted), string(worker.OutcomeHandedBack), string(worker.OutcomeExpired),
			string(worker.OutcomeCancelled), string(worker.OutcomePaused),
		},
		"lane":  lanes,
		"queue": lanes,
		"kind":  {string(tasks.KindSystem), string(tasks.KindPush)},
		// asynq/x/metrics's states of asynq_tasks_enqueued_total.
		"state": {"active", "pending", "scheduled", "retry", "archived", "completed"},
		"job":   {promJobNotifyd, "prometheus"},
		"count": {"total", "pending", "delivered", "retrying", "dead_lettered", "expired", "cancelled"},
	}
}

// lookupMetric returns the labels a series name may carry, and false for a
// name notifyd does not export.
func lookupMetric(name string) ([]string, bool) {
	if m, ok := knownMetrics[name]; ok {
		return append(slices.Clone(m.Labels), targetLabels...), true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		base, ok := strings.CutSuffix(name, suffix)
		if m, known := knownMetrics[base]; ok && known && m.Histogram {
			l := append(slices.Clone(m.Labels), targetLabels...)
			if suffix == "_bucket" {
				l = append(l, "le")
			}
			return l, true
		}
	}
	return nil, false
}

// grafanaVar matches Grafana's $var, ${var} and ${var:format}.
var grafanaVar = regexp.MustCompile(`\$(\{[A-Za-z0-9_:]+\}|[A-Za-z0-9_]+)`)

// expandGrafanaVars replaces Grafana's variables so that a panel's query
// parses as PromQL: interval variables become 5m, others a plain value.
func expandGrafanaVars(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.Contains(v, "__") {
			return "5m"
		}
		return "x"
	})
}

var promParser = parser.NewParser(parser.Options{})

// reporter is the part of testing.TB the checks use.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// errorCounter is a reporter that counts errors, to test the checks.
type errorCounter struct{ n int }

func (*errorCounter) Helper()                 {}
func (e *errorCounter) Errorf(string, ...any) { e.n++ }

// checkPromQL parses expr and reports metrics notifyd does not export,
// labels they do not carry and label values that never occur. It returns the
// metric names expr uses (histogram suffixes trimmed).
func checkPromQL(t reporter, where, expr string) []string {
	t.Helper()
	root, err := promParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q: %v", where, expr, err)
		return nil
	}
	values := labelValues()
	var used []string
	parser.Inspect(root, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			allowed, ok := lookupMetric(name)
			if !ok {
				t.Errorf("%s: %q uses %s, which notifyd does not export (see knownMetrics)", where, expr, name)
				return nil
			}
			used = append(used, histogramBase(name))
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					continue
				}
				if !slices.Contains(allowed, m.Name) {
					t.Errorf("%s: %q: %s has no label %q (labels: %v)", where, expr, name, m.Name, allowed)
				}
				literal := m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual
				if vs, ok := values[m.Name]; ok && literal && !slices.Contains(vs, m.Value) {
					t.Errorf("%s: %q: %s=%q never occurs (values: %v)", where, expr, m.Name, m.Value, vs)
				}
			}
		case *parser.AggregateExpr:
			if !n.Without {
				checkGrouping(t, where, expr, "by", n.Grouping, n.Expr)
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				if vm.On {
					checkGrouping(t, where, expr, "on", vm.MatchingLabels, n.LHS, n.RHS)
				}
				checkGrouping(t, where, expr, "group_left/right", vm.Include, n.LHS, n.RHS)
			}
		}
		return nil
	})
	return used
}

// checkGrouping reports grouping labels that no series under nodes carries.
func checkGrouping(t reporter, where, expr, clause string, grouping []string, nodes ...parser.Node) {
	t.Helper()
	var available []string
	for _, node := range nodes {
		parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				l, _ := lookupMetric(selectorName(vs))
				available = append(available, l...)
			}
			return nil
		})
	}
	for _, g := range grouping {
		if !slices.Contains(available, g) {
			t.Errorf("%s: %q: %s (%s): no series here has label %q", where, expr, clause, g, g)
		}
	}
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && knownMetrics[base].Histogram {
			return base
		}
	}
	return name
}

// registerRecorder records the collectors registered on it.
type registerRecorder struct{ collectors []prometheus.Collector }

func (r *registerRecorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *registerRecorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *registerRecorder) Unregister(prometheus.Collector) bool { return false }

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// The allow-list agrees with what worker.NewMetrics registers: same names,
// same labels, same histograms.
func TestKnownMetrics_MatchWorker(t *testing.T) {
	t.Parallel()
	var rec registerRecorder
	worker.NewMetrics(&rec)
	exported := map[string]bool{}
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqNameRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			name := m[1]
			exported[name] = true
			want, ok := knownMetrics[name]
			if !ok {
				t.Errorf("worker exports %s, which knownMetrics lacks", name)
				continue
			}
			lv := prometheus.Labels{}
			for _, l := range want.Labels {
				lv[l] = "x"
			}
			var err error
			histogram := false
			switch v := c.(type) {
			case *prometheus.CounterVec:
				_, err = v.GetMetricWith(lv)
			case *prometheus.GaugeVec:
				_, err = v.GetMetricWith(lv)
			case *prometheus.HistogramVec:
				_, err = v.GetMetricWith(lv)
				histogram = true
			default:
				t.Errorf("%s: unexpected collector %T", name, c)
				continue
			}
			if err != nil {
				t.Errorf("%s: the worker's labels differ from knownMetrics' %v: %v", name, want.Labels, err)
			}
			if histogram != want.Histogram {
				t.Errorf("%s: histogram %v in worker, %v in knownMetrics", name, histogram, want.Histogram)
			}
		}
	}
	for name := range knownMetrics {
		if strings.HasPrefix(name, "lsqd_") && !exported[name] {
			t.Logf("%s is in knownMetrics but not registered by worker.NewMetrics (notifyd must export it)", name)
		}
	}
}

// The checker itself rejects what it should.
func TestCheckPromQL_Rejects(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		`sum(rate(lsqd_deliveries_total[5m]`,                         // syntax
		`lsqd_deliverie_total`,                                       // unknown metric
		`lsqd_deliveries_total{acount="a"}`,                          // unknown label
		`lsqd_deliveries_total{outcome="delivred"}`,                  // unknown value
		`sum by (acount) (lsqd_rate_limited_total)`,                  // grouping label
		`asynq_queue_latency_seconds{queue="transactionl"}`,          // queue name
		`lsqd_limiter_wait_seconds_count{le="1"}`,                    // le on _count
		`histogram_quantile(0.9, sum by (le) (rate(up_bucket[1m])))`, // not a histogram
	} {
		var errs errorCounter
		checkPromQL(&errs, "test", expr)
		if errs.n == 0 {
			t.Errorf("checkPromQL accepted %q", expr)
		}
	}
}
