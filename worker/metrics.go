package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are notifyd's Prometheus metrics. Names are a contract with the
// dashboards and alerts in deploy/.
type Metrics struct {
	Deliveries  *prometheus.CounterVec   // lsqd_deliveries_total{kind,lane,account,outcome}
	Latency     *prometheus.HistogramVec // lsqd_leadsquared_request_duration_seconds{kind,account,code}
	LimiterWait *prometheus.HistogramVec // lsqd_limiter_wait_seconds{account,lane}
	RateLimited *prometheus.CounterVec   // lsqd_rate_limited_total{account}
	Cooldowns   *prometheus.CounterVec   // lsqd_cooldowns_total{account}
	Halted      *prometheus.GaugeVec     // lsqd_account_halted{account}
	RateCalls   *prometheus.GaugeVec     // lsqd_rate_limit_calls{account}
	RateWindow  *prometheus.GaugeVec     // lsqd_rate_limit_window_seconds{account}
	Released    *prometheus.CounterVec   // lsqd_dispatch_released_total{account}

	// OperationHalted is lsqd_operation_halted{account,kind}.
	OperationHalted *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsqd_deliveries_total",
			Help: "Handler runs by notification kind, lane, account and outcome (delivered, delivered_unconfirmed, retried, rate_limited, archived, halted, handed_back, expired).",
		}, []string{"kind", "lane", "account", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lsqd_leadsquared_request_duration_seconds",
			Help:    "LeadSquared call latency by kind, account and HTTP status code (0: no answer).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind", "account", "code"}),
		LimiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lsqd_limiter_wait_seconds",
			Help:    "Time a task waited for a rate-limit slot, by account and lane.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"account", "lane"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsqd_rate_limited_total",
			Help: "Rate-limit answers (429 or MXAPIRateLimitExceededException) from LeadSquared.",
		}, []string{"account"}),
		Cooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsqd_cooldowns_total",
			Help: "Account-wide cool-downs started after a rate-limit answer.",
		}, []string{"account"}),
		Halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsqd_account_halted",
			Help: "1 while the account is halted by a credentials or configuration fault.",
		}, []string{"account"}),
		OperationHalted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsqd_operation_halted",
			Help: "1 while the account's notifications of this kind (system, push) are halted because LeadSquared answers 404 for their API path; the other kind keeps flowing. lsqd_account_halted covers a halt of the whole account.",
		}, []string{"account", "kind"}),
		RateCalls: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsqd_rate_limit_calls",
			Help: "Calls per window the account's limiter applies (lower when LeadSquared stated a lower limit).",
		}, []string{"account"}),
		RateWindow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsqd_rate_limit_window_seconds",
			Help: "The window of the account's applied limit.",
		}, []string{"account"}),
		Released: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsqd_dispatch_released_total",
			Help: "Bulk tasks the dispatch scheduler released from their groups to the bulk queue, by account.",
		}, []string{"account"}),
	}
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Latency, m.LimiterWait, m.RateLimited, m.Cooldowns, m.Halted, m.RateCalls, m.RateWindow, m.Released, m.OperationHalted)
	}
	return m
}
