package notifyd

import (
	"context"
	"maps"
	"slices"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// registerQueueMetrics registers the queue metrics read from Redis at each
// scrape: asynq's own collector (asynq_queue_size, asynq_queue_latency_seconds,
// asynq_tasks_enqueued_total{queue,state}, …, from
// github.com/hibiken/asynq/x/metrics), lsqd_dead_letters{queue} and the
// campaigns' (lsqd_campaigns, lsqd_campaign_notifications). Every
// replica exports the same values: dashboards combine them with max.
func registerQueueMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, log zerolog.Logger) {
	insp := asynq.NewInspectorFromRedisClient(rdb) // shares rdb: nothing to close
	reg.MustRegister(metrics.NewQueueMetricsCollector(insp), &deadLetterCollector{inspector: insp, rdb: rdb, log: log},
		newCampaignCollector(rdb, log))
}

var droppedDesc = prometheus.NewDesc("lsqd_dead_letters_dropped",
	"Dead letters asynq dropped past its archive cap (10,000 a queue) within the retention: their bodies are gone and their refs free; notifyctl dlq list shows their records.",
	nil, nil)

var deadLettersDesc = prometheus.NewDesc("lsqd_dead_letters",
	"Dead-lettered (archived) notifications by queue: LeadSquared refused them or their retries ran out. notifyctl dlq list shows them.",
	[]string{"queue"}, nil)

// deadLetterCollector exports lsqd_dead_letters{queue}: the archived tasks of
// each lane, 0 for a lane Redis does not know yet (so that alerts on a rise
// have a series from the start), and of any other queue found.
type deadLetterCollector struct {
	inspector *asynq.Inspector
	rdb       redis.UniversalClient
	log       zerolog.Logger
}

func (c *deadLetterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- deadLettersDesc
	ch <- droppedDesc
}

// Collect reads the counts. When Redis fails it exports nothing and logs,
// so that /metrics still serves the workers' own metrics.
func (c *deadLetterCollector) Collect(ch chan<- prometheus.Metric) {
	queues := slices.Sorted(maps.Keys(tasks.Queues))
	known, err := c.inspector.Queues()
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not list the queues for lsqd_dead_letters")
		return
	}
	for _, q := range known {
		if !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		archived := 0
		if slices.Contains(known, q) {
			info, err := c.inspector.GetQueueInfo(q)
			if err != nil {
				c.log.Warn().Err(err).Str("queue", q).Msg("metrics: could not read the queue for lsqd_dead_letters")
				continue
			}
			archived = info.Archived
		}
		ch <- prometheus.MustNewConstMetric(deadLettersDesc, prometheus.GaugeValue, float64(archived), q)
	}
	dropped, err := c.rdb.ZCard(context.Background(), keys.DeadLettersDropped).Result()
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not count the dropped dead letters")
		return
	}
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.GaugeValue, float64(dropped))
}
