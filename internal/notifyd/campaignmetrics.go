package notifyd

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
)

var (
	campaignsDesc = prometheus.NewDesc("lsqd_campaigns",
		"Campaigns the registry holds, by state (ended ones are kept 7 days).", []string{"state"}, nil)
	campaignCountsDesc = prometheus.NewDesc("lsqd_campaign_notifications",
		"Notifications of each running or paused campaign by what became of them (count: total, pending, delivered, retrying, dead_lettered, expired, cancelled); ended campaigns are not exported.",
		[]string{"account", "campaign", "state", "count"}, nil)
)

// campaignCollector exports the campaign registry at each scrape: how many
// campaigns are in each state, and the counts of the live ones (running or
// paused), so that the number of series follows what is running now.
type campaignCollector struct {
	reg *campaign.Registry
	log zerolog.Logger
}

func newCampaignCollector(rdb redis.UniversalClient, log zerolog.Logger) *campaignCollector {
	return &campaignCollector{reg: campaign.New(rdb, 0), log: log}
}

func (c *campaignCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- campaignsDesc
	ch <- campaignCountsDesc
}

// Collect reads the registry; when Redis fails it exports nothing and logs.
func (c *campaignCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := c.reg.List(ctx, "")
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not list the campaigns")
		return
	}
	states := map[campaign.State]int{campaign.Running: 0, campaign.Paused: 0, campaign.Cancelled: 0, campaign.Done: 0}
	for _, r := range recs {
		states[r.State]++
		if r.State.Live() {
			c.counts(ch, r)
		}
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(campaignsDesc, prometheus.GaugeValue, float64(n), string(st))
	}
}

func (c *campaignCollector) counts(ch chan<- prometheus.Metric, r campaign.Record) {
	for name, n := range map[string]int{"total": r.Total, "pending": r.Pending(), "delivered": r.Delivered,
		"retrying": r.Retrying, "dead_lettered": r.DeadLettered, "expired": r.Expired, "cancelled": r.Cancelled} {
		ch <- prometheus.MustNewConstMetric(campaignCountsDesc, prometheus.GaugeValue, float64(n),
			r.Account, r.Name, string(r.State), name)
	}
}
