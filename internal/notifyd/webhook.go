package notifyd

import (
	"log/slog"

	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/events"
)

// startWebhook starts the events webhook when NOTIFYD_EVENTS_WEBHOOK_URL is
// set: in its own goroutine, on the workers' Redis client, so that nothing
// it waits for holds up a delivery.
func (p *Process) startWebhook() error {
	cfg := p.Config.EventsWebhook
	if cfg.URL == "" {
		return nil
	}
	log := p.Log.With().Str("component", "events-webhook").Logger()
	w, err := events.NewWebhook(events.WebhookConfig{Redis: p.Redis, URL: cfg.URL, Secret: cfg.Secret,
		Logger: slog.New(zerolog.NewSlogHandler(log))})
	if err != nil {
		return err
	}
	w.Start()
	p.webhook = w
	log.Info().Str("url", events.RedactURL(cfg.URL)).Str("group", events.WebhookGroup).
		Msg("events webhook started: each event is posted once across the notifyd processes")
	return nil
}
