package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// WebhookGroup is the consumer group of notifyd's webhook. Every notifyd
// process is one consumer of it, so that each event is posted once in all.
const WebhookGroup = "webhook"

// Defaults of WebhookConfig.
const (
	DefaultWebhookTimeout    = 10 * time.Second
	DefaultWebhookRetryFirst = time.Second
	DefaultWebhookRetryMax   = time.Minute
	DefaultWebhookCount      = 10
)

// WebhookConfig configures a Webhook. Zero values are defaults.
type WebhookConfig struct {
	// Redis holds the event stream (required).
	Redis redis.Cmdable
	// URL receives each event as a POST (required): an http or https URL.
	URL string
	// Secret signs each request (required; see Sign). It is never logged,
	// stored or sent.
	Secret string
	// Consumer names this process in WebhookGroup (default DefaultConsumer).
	Consumer string
	// HTTPClient posts the events (default: a client with a
	// DefaultWebhookTimeout timeout). The Webhook follows no redirect: a
	// 3xx is a failure, retried.
	HTTPClient *http.Client
	// Logger gets the failures, at warning level (default: none). The URL
	// shows without its userinfo and query (RedactURL).
	Logger *slog.Logger
	// RetryFirst and RetryMax bound the exponential backoff between the
	// attempts of one event (defaults DefaultWebhookRetryFirst and
	// DefaultWebhookRetryMax). An event is retried until it is delivered or
	// the Webhook shuts down, and the events after it wait.
	RetryFirst, RetryMax time.Duration
	// Count is the most events read at once (default DefaultWebhookCount).
	Count int64
	// Block and ClaimIdle are the Consumer's (ConsumerConfig).
	Block, ClaimIdle time.Duration
	// Now is the clock of the signatures (default time.Now).
	Now func() time.Time
}

// Webhook posts every event of the stream to one URL, signed, each once
// across every process that runs one: each process is a consumer of
// WebhookGroup, acknowledges an event after a 2xx answer, retries it with
// exponential backoff on any other answer or a network error, and claims
// the events a dead process left pending. A process stopped in the middle
// of a request, or stalled for over ClaimIdle, may have an event posted
// twice: receivers skip an X-Lsqd-Event-Id they have seen.
//
// Each request is a POST of the event's JSON (tasks.Event, with its ID),
// with the headers X-Lsqd-Signature (see Sign) and X-Lsqd-Event-Id.
type Webhook struct {
	cfg      WebhookConfig
	url      string // redacted, for logs and errors
	log      *slog.Logger
	consumer *Consumer
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewWebhook returns a Webhook; Start runs it.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := checkWebhook(cfg); err != nil {
		return nil, err
	}
	cfg.RetryFirst = cmp.Or(max(cfg.RetryFirst, 0), DefaultWebhookRetryFirst)
	cfg.RetryMax = max(cmp.Or(cfg.RetryMax, DefaultWebhookRetryMax), cfg.RetryFirst)
	cfg.HTTPClient = noRedirects(cmp.Or(cfg.HTTPClient, &http.Client{Timeout: DefaultWebhookTimeout}))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Webhook{cfg: cfg, url: RedactURL(cfg.URL), log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))}
	var err error
	w.consumer, err = NewConsumer(cfg.Redis, ConsumerConfig{Group: WebhookGroup, Consumer: cfg.Consumer,
		Count: cmp.Or(cfg.Count, DefaultWebhookCount), Block: cfg.Block, ClaimIdle: cfg.ClaimIdle,
		OnMalformed: func(id string, err error) {
			w.log.Warn("events webhook: skipped an entry that holds no event", "entry", id, "error", err)
		}})
	if err != nil {
		return nil, err
	}
	w.log = w.log.With("url", w.url, "consumer", w.consumer.Name())
	return w, nil
}

func checkWebhook(cfg WebhookConfig) error {
	if cfg.Redis == nil {
		return errors.New("events: a webhook needs the Redis of the event stream (WebhookConfig.Redis)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("events: the webhook URL %q is not an http(s) URL such as https://hooks.example/lsqd", RedactURL(cfg.URL))
	}
	if cfg.Secret == "" {
		return errors.New("events: a webhook needs a secret to sign its requests (WebhookConfig.Secret)")
	}
	return nil
}

// RedactURL returns a URL fit for logs: without its userinfo, and with
// "xxxxx" for its query, either of which may hold a credential.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	return u.String()
}

// Start runs the Webhook in its own goroutine until Shutdown.
func (w *Webhook) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go w.run(ctx)
}

// Shutdown stops the Webhook and waits for it: within Block, or at once
// when a request is under way, which is cut short and whose event stays
// pending, to be posted again.
func (w *Webhook) Shutdown() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
}

// run reads and forwards events until ctx ends, waiting longer and longer
// while Redis fails.
func (w *Webhook) run(ctx context.Context) {
	defer close(w.done)
	wait := &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.2,
		Multiplier: 2, MaxInterval: 30 * time.Second}
	wait.Reset()
	for ctx.Err() == nil {
		evs, err := w.consumer.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := wait.NextBackOff()
			w.log.Warn("events webhook: cannot read the event stream; trying again", "error", err, "retry_in", d.String())
			sleep(ctx, d)
			continue
		}
		wait.Reset()
		w.forward(ctx, evs)
	}
}

// forward posts evs one by one and acknowledges each once delivered. It
// keeps them all from being claimed while it works on them, and returns
// when ctx ends, leaving the undelivered ones pending.
func (w *Webhook) forward(ctx context.Context, evs []tasks.Event) {
	if len(evs) == 0 {
		return
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	defer w.hold(ctx, ids)()
	for _, ev := range evs {
		if err := w.deliver(ctx, ev); err != nil {
			return // ctx ended
		}
		if err := w.consumer.Ack(ctx, ev.ID); err != nil {
			w.log.Warn("events webhook: delivered, but not acknowledged: another process may post it again", "event_id", ev.ID, "error", err)
		}
	}
}

// hold touches ids every third of ClaimIdle until the returned function is
// called, so that no other process claims them while this one retries.
func (w *Webhook) hold(ctx context.Context, ids []string) (release func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(w.consumer.cfg.ClaimIdle/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.consumer.Touch(ctx, ids...); err != nil && ctx.Err() == nil {
					w.log.Warn("events webhook: cannot keep the events being posted: another process may post them too", "error", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// deliver posts ev until an attempt gets a 2xx answer or ctx ends.
func (w *Webhook) deliver(ctx context.Context, ev tasks.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err // an Event always encodes
	}
	attempt := 0
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		return struct{}{}, w.post(ctx, ev.ID, body)
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: w.cfg.RetryFirst,
		RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: w.cfg.RetryMax}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			w.log.Warn("events webhook: delivery failed; retrying", "event_id", ev.ID, "attempt", attempt,
				"error", err, "retry_in", next.Round(time.Millisecond).String())
		}))
	if err == nil {
		w.log.Debug("events webhook: delivered", "event_id", ev.ID, "attempts", attempt)
	}
	return err
}

// post makes one attempt: any answer but a 2xx is an error.
func (w *Webhook) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %v", w.url, redactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lsqdispatch-notifyd")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, w.cfg.Now(), body))
	resp, err := w.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %v", w.url, redactErr(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: HTTP %d, want 2xx", w.url, resp.StatusCode)
	}
	return nil
}

// noRedirects returns a copy of c that answers a redirect itself: following
// one would turn the POST into a GET, or send the event elsewhere.
func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// redactErr drops the URL a *url.Error repeats (the caller names the
// redacted one), keeping what went wrong.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
