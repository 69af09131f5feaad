package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// handler delivers notification tasks: it waits for a slot under the
// account's global limit, makes one LeadSquared call and maps the answer to
// asynq's retry, archive or deferral.
type handler struct {
	accounts map[string]*Account
	limiter  *Limiter
	refs     *retention
	halts    *halts
	sched    *dispatcher
	kinds    *kindHalts
	parked   *parked
	dead     *deadLetters
	camps    *campaigns
	rdb      redis.Cmdable
	log      zerolog.Logger
	metrics  *Metrics
	stop     <-chan struct{}
	probe    time.Duration
	now      func() time.Time
	// resendUnconfirmed retries an unconfirmed delivery (Config.ResendUnconfirmed).
	resendUnconfirmed bool
}

// attempt is what one handler run learned, for its log line and metrics.
type attempt struct {
	kind    tasks.Kind
	meta    tasks.Meta
	number  int
	wait    time.Duration
	latency time.Duration
	status  int
	outcome Outcome // set by process when err alone does not tell it
	// messageID is LeadSquared's MessageID of a delivered system notification.
	messageID string
	// cause is why an attempt that returned nil is not a plain delivery.
	cause error
}

// ProcessTask implements asynq.Handler.
func (h *handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	kind, ok := tasks.KindOf(t.Type())
	if !ok {
		return archive("unknown task type "+strconv.Quote(t.Type()), errors.New("not a notification"))
	}
	retried, _ := asynq.GetRetryCount(ctx)
	a := &attempt{kind: kind, number: retried + 1}
	err := h.process(ctx, t, a)
	if a.outcome == "" {
		a.outcome = outcomeOf(err)
	}
	// asynq (v0.26.0) archives a task that fails with SkipRetry, or any
	// error, a deferral too, once its retries are spent.
	maxRetry, hasMax := asynq.GetMaxRetry(ctx)
	archived := err != nil && (errors.Is(err, asynq.SkipRetry) || (hasMax && retried >= maxRetry))
	if archived {
		a.outcome = OutcomeArchived
	}
	h.record(a, err)
	h.recordOutcome(ctx, a, err)
	if err != nil {
		// asynq records a failure in Redis once this returns (see awaitRedis).
		h.awaitRedis(ctx)
	}
	if id, ok := asynq.GetTaskID(ctx); archived && ok {
		if !IsFailure(err) && a.meta.Ref != "" {
			h.expireRef(a.meta, tasks.ArchivedRetention) // a deferral on the last attempt
		}
		queue, _ := asynq.GetQueueName(ctx)
		h.dead.record(tasks.DeadLetter{ID: id, Queue: queue, Kind: kind,
			Ref: a.meta.Ref, Account: a.meta.Account, Campaign: a.meta.Campaign, Reason: err.Error(),
			FailedAt: h.now().UTC(), Attempts: retried})
	}
	return err
}

// recordOutcome counts a final outcome in its campaign and appends its
// event (see campaigns.record), even when ctx is done.
func (h *handler) recordOutcome(ctx context.Context, a *attempt, err error) {
	if a.meta.Ref == "" {
		return
	}
	rerr := h.recordOnce(ctx, a, err)
	// Redis went away: the outcome is recorded once it answers again, as
	// asynq's own record of the task is (see awaitRedis).
	for try := 0; rerr != nil && try < 3 && h.awaitRedis(ctx); try++ {
		rerr = h.recordOnce(ctx, a, err)
	}
	if rerr != nil {
		h.log.Warn().Err(rerr).Str("ref", a.meta.Ref).Str("outcome", string(a.outcome)).Msg("the outcome's event could not be recorded")
	}
}

func (h *handler) recordOnce(ctx context.Context, a *attempt, err error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return h.camps.record(rctx, a, err)
}

// redisPoll is how often a handler pings Redis while Redis is unreachable.
const redisPoll = 250 * time.Millisecond

// redisSettle is how long a handler keeps a task after Redis answers again:
// asynq writes through its own connection pool, which go-redis redials only
// once a second after a run of failed dials.
const redisSettle = 1500 * time.Millisecond

// awaitRedis returns at once when Redis answers a PING; otherwise it keeps
// the task, pinging every redisPoll, until Redis answers again (and then
// redisSettle more), ctx is done (asynq's lease ended, or the task's
// deadline) or notifyd stops. It reports whether it waited for Redis and
// Redis came back.
//
// A handler must not hand a task back to asynq while Redis is down: asynq
// (v0.26.0) writes the task's outcome once, and its later attempts to sync a
// failed write run with a context already cancelled, so they never succeed.
// The task would then stay in the active set until asynq's recoverer takes it
// (lease 30 s, plus 30 s, plus up to a minute), at the cost of a retry; and a
// delivered notification would be delivered again. Held here instead, the
// task's lease is extended by asynq's heartbeat once Redis is back, and its
// outcome is recorded at the first try.
func (h *handler) awaitRedis(ctx context.Context) bool {
	waited := false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := h.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			if waited && h.pause(ctx, redisSettle) {
				h.log.Info().Msg("Redis answers again: the held task goes on")
				return true
			}
			return false
		}
		if !waited {
			h.log.Warn().Err(err).Msg("Redis is unreachable: the task is held until it answers again")
		}
		waited = true
		if !h.pause(ctx, redisPoll) {
			return false
		}
	}
	return false
}

// pause waits d; it returns false at once when ctx is done or notifyd stops.
func (h *handler) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-h.stop:
		return false
	case <-t.C:
		return true
	}
}

func (h *handler) process(ctx context.Context, t *asynq.Task, a *attempt) error {
	meta, call, err := decode(a.kind, t.Payload())
	if err != nil {
		return archive("undecodable payload", err)
	}
	a.meta = meta
	acct := h.accounts[meta.Account]
	if acct == nil {
		return deferFor(time.Minute, OutcomeHandedBack,
			fmt.Errorf("account %q is not configured in this notifyd (add it to LSQ_ACCOUNTS_FILE)", meta.Account))
	}
	if err := call.validate(); err != nil {
		h.expireRef(meta, tasks.ArchivedRetention)
		return archive("invalid notification", err)
	}
	if meta.Expired(h.now()) {
		return h.expired(t, meta, a)
	}
	if err := h.campaignStopped(ctx, t, meta, a); err != nil || a.outcome != "" {
		return err
	}
	if reason, held := h.kinds.held(ctx, meta.Account, a.kind); held {
		// LeadSquared answers 404 for this kind's path: the task waits
		// without booking a slot, so the other kind keeps the whole limit;
		// the scheduler's turn it took goes to the next task at once.
		if meta.Lane == tasks.LaneBulk {
			h.sched.wake(ctx, meta.Account)
		}
		return h.haltDefer(ctx, meta, string(a.kind), &KindHaltedError{Account: meta.Account, Kind: a.kind, Reason: reason})
	}
	// The wait is measured here, across the rebookings after a Redis
	// outage: a task handed back has still spent its wait.
	waitStart := time.Now()
	_, err = h.limiter.Wait(ctx, h.stop, meta.Account, meta.Lane, acct.Policy)
	for err != nil && h.awaitRedis(ctx) {
		// The limiter failed because Redis went away: book again now it is back.
		_, err = h.limiter.Wait(ctx, h.stop, meta.Account, meta.Lane, acct.Policy)
	}
	a.wait = time.Since(waitStart)
	h.metrics.LimiterWait.WithLabelValues(meta.Account, string(meta.Lane)).Observe(a.wait.Seconds())
	if err != nil {
		return h.waitFailed(ctx, meta, err)
	}
	if meta.Expired(h.now()) {
		return h.expired(t, meta, a) // the slot goes unused: better than a late reminder
	}
	if err := h.campaignStopped(ctx, t, meta, a); err != nil || a.outcome != "" {
		return err // paused or cancelled while the task waited for its slot
	}

	start := time.Now()
	res, err := call.send(leadsquared.WithRequestID(ctx, meta.Ref), acct.Sender)
	a.latency = time.Since(start)
	a.status = statusOf(err)
	h.metrics.Latency.WithLabelValues(string(a.kind), meta.Account, strconv.Itoa(a.status)).Observe(a.latency.Seconds())
	if err == nil {
		a.messageID = res.MessageID
		return h.delivered(ctx, t, meta, res, a.number)
	}
	return h.failed(ctx, t, acct, meta, a, err)
}

// campaignStopped hands back a task of a paused campaign (and gives the
// account's turn to its other groups), or completes one of a cancelled
// campaign without a call (a.outcome set); it returns nil, with no outcome,
// for a running one.
func (h *handler) campaignStopped(ctx context.Context, t *asynq.Task, meta tasks.Meta, a *attempt) error {
	switch h.camps.state(ctx, meta) {
	case campaign.Paused:
		if meta.Lane == tasks.LaneBulk {
			h.sched.wake(ctx, meta.Account)
		}
		return deferFor(pausedRecheck, OutcomePaused, &CampaignPausedError{Account: meta.Account, Campaign: meta.Campaign})
	case campaign.Cancelled:
		a.outcome = OutcomeCancelled
		res := tasks.Result{DeliveredAt: h.now().UTC(), Attempt: a.number, Cancelled: true}
		if err := writeResult(t, res); err != nil {
			h.log.Warn().Err(err).Str("ref", meta.Ref).Msg("cancelled, but the result could not be recorded")
		}
		h.freeRef(ctx, meta)
	}
	return nil
}

// haltDefer defers a task for a halt, for the probe interval, and parks it
// (what: its kind, or parkAccount) so that the halt's end brings it back at
// once.
func (h *handler) haltDefer(ctx context.Context, meta tasks.Meta, what string, err error) error {
	h.parked.park(ctx, meta.Account, what)
	return deferFor(h.probe, OutcomeHalted, err)
}

// writeResult writes res as the task's result; a task asynq did not hand
// over (a test's) has no result to write.
func writeResult(t *asynq.Task, res tasks.Result) error {
	rw := t.ResultWriter()
	if rw == nil {
		return nil
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = rw.Write(data)
	return err
}

// waitFailed maps a limiter error to a deferral or a retry. A deferral of
// bulk work also holds the account's next release by the dispatch
// scheduler for as long, so that the workers take other accounts' work.
func (h *handler) waitFailed(ctx context.Context, meta tasks.Meta, err error) error {
	var he *HaltedError
	var de *DailyCapError
	var be *BusyError
	var d error
	switch {
	case errors.As(err, &he):
		d = h.haltDefer(ctx, meta, parkAccount, err)
	case errors.As(err, &de):
		d = deferFor(de.ResumeIn, OutcomeHandedBack, err)
	case errors.As(err, &be):
		d = deferFor(be.RetryIn, OutcomeHandedBack, err)
	case errors.Is(err, ErrStopping):
		return deferFor(0, OutcomeHandedBack, err)
	default:
		return fmt.Errorf("wait for a rate-limit slot: %w", err)
	}
	if meta.Lane == tasks.LaneBulk {
		h.sched.hold(meta.Account, d.(*deferral).Delay)
	}
	return d
}

func (h *handler) delivered(ctx context.Context, t *asynq.Task, meta tasks.Meta, res tasks.Result, n int) error {
	res.DeliveredAt = h.now().UTC()
	res.Attempt = n
	if data, err := json.Marshal(res); err == nil {
		_, err := t.ResultWriter().Write(data)
		// Redis went away during the call, or asynq's connections are not
		// back yet: asynq must be able to record the delivery, or the
		// notification is sent again (see awaitRedis). The result goes
		// through asynq's own connections, so writing it is the test; after
		// asynq's lease length, its recoverer does as well.
		giveUp := time.Now().Add(30 * time.Second)
		for err != nil && time.Now().Before(giveUp) && (h.awaitRedis(ctx) || h.pause(ctx, redisPoll)) {
			_, err = t.ResultWriter().Write(data)
		}
		if err != nil {
			h.log.Warn().Err(err).Str("ref", meta.Ref).Msg("delivered, but the result could not be recorded")
		}
	}
	h.expireRef(meta, tasks.DefaultRetention)
	return nil
}

// expired completes a notification whose expiry passed, without a call:
// its result says so, and its ref is kept for the retention like a
// delivered one's.
func (h *handler) expired(t *asynq.Task, meta tasks.Meta, a *attempt) error {
	a.outcome = OutcomeExpired
	res := tasks.Result{DeliveredAt: h.now().UTC(), Attempt: a.number, Expired: true}
	if err := writeResult(t, res); err != nil {
		h.log.Warn().Err(err).Str("ref", meta.Ref).Msg("expired, but the result could not be recorded")
	}
	h.expireRef(meta, tasks.DefaultRetention)
	return nil
}

// failed maps LeadSquared's answer to what asynq does next.
func (h *handler) failed(ctx context.Context, t *asynq.Task, acct *Account, meta tasks.Meta, a *attempt, err error) error {
	var le *leadsquared.Error
	errors.As(err, &le)
	switch leadsquared.Classify(err) {
	case leadsquared.KindRateLimited:
		return h.rateLimited(ctx, acct, meta, le, err)
	case leadsquared.KindPermanent:
		h.expireRef(meta, tasks.ArchivedRetention)
		return archive("LeadSquared refused the notification", err)
	case leadsquared.KindCredentials, leadsquared.KindConfiguration:
		if le != nil && le.StatusCode == http.StatusNotFound {
			// This kind's API path is wrong (a placeholder
			// LSQ_SYSTEM_NOTIFICATION_PATH): it alone halts; the keys are fine.
			h.kinds.halt(ctx, meta.Account, a.kind, err)
			return h.haltDefer(ctx, meta, string(a.kind), err)
		}
		h.halts.halt(ctx, meta.Account, err)
		return h.haltDefer(ctx, meta, parkAccount, err)
	case leadsquared.KindUnconfirmed:
		if h.resendUnconfirmed {
			break // retried like a transient failure
		}
		// LeadSquared took the call and most likely delivered it: sending it
		// again would deliver it twice, halting would stop the account for
		// a proxy's fault. It is recorded as delivered, unconfirmed.
		a.outcome, a.cause = OutcomeDeliveredUnconfirmed, err
		return h.delivered(ctx, t, meta, tasks.Result{Unconfirmed: err.Error()}, a.number)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return err
	}
	if maxRetry, ok := asynq.GetMaxRetry(ctx); ok && a.number > maxRetry {
		h.expireRef(meta, tasks.ArchivedRetention)
	}
	return err
}

// rateLimited starts the account-wide cool-down, adopts a lower stated
// limit, and defers the task without counting a failure.
func (h *handler) rateLimited(ctx context.Context, acct *Account, meta tasks.Meta, le *leadsquared.Error, err error) error {
	h.metrics.RateLimited.WithLabelValues(meta.Account).Inc()
	rate, _ := h.limiter.Effective(ctx, meta.Account, acct.Policy)
	cool := rate.Window
	if le != nil && le.RetryAfter > cool {
		cool = le.RetryAfter
	}
	if le != nil && le.Limit != nil {
		stated := Rate{Calls: le.Limit.Calls, Window: le.Limit.Window}
		adopted, aerr := h.limiter.Adopt(ctx, meta.Account, stated, acct.Policy, 24*time.Hour)
		if aerr == nil && adopted {
			h.log.Warn().Str("account", meta.Account).Str("configured", acct.Policy.Rate.String()).
				Str("stated", stated.String()).Msg("LeadSquared states a lower limit than configured: the limiter adopts it for 24h")
			_ = h.sched.setPace(ctx, meta.Account, Policy{Rate: stated, Margin: acct.Policy.Margin})
			h.metrics.RateCalls.WithLabelValues(meta.Account).Set(float64(stated.Calls))
			h.metrics.RateWindow.WithLabelValues(meta.Account).Set(stated.Window.Seconds())
		}
	}
	if cerr := h.limiter.CoolDown(ctx, meta.Account, cool, "rate limited by LeadSquared"); cerr != nil {
		return fmt.Errorf("%w (and the cool-down could not be set: %v)", err, cerr)
	}
	h.metrics.Cooldowns.WithLabelValues(meta.Account).Inc()
	return deferFor(cool, OutcomeRateLimited, err)
}

// expireRef lets the ref be reused once Redis forgets the task (in a batch
// with other handlers' refs: see retention).
func (h *handler) expireRef(meta tasks.Meta, ttl time.Duration) {
	h.refs.set(meta.Account, meta.Ref, ttl)
}

func (h *handler) record(a *attempt, err error) {
	h.metrics.Deliveries.WithLabelValues(string(a.kind), string(a.meta.Lane), a.meta.Account, string(a.outcome)).Inc()
	ev := h.log.Info()
	switch {
	case a.outcome == OutcomeArchived || a.outcome == OutcomeRetried || a.outcome == OutcomeDeliveredUnconfirmed:
		ev = h.log.Warn()
	case a.outcome == OutcomeHalted && a.status == 0:
		// A task held by a halt, without a call: the halt's reason was
		// logged once, when it began; a line per held task would repeat it.
		ev = h.log.Debug()
	case a.outcome == OutcomeHalted:
		ev = h.log.Warn() // the call that found the fault
	}
	if err == nil {
		err = a.cause
	}
	ev = ev.Str("ref", a.meta.Ref).Str("kind", string(a.kind)).Str("account", a.meta.Account).
		Str("lane", string(a.meta.Lane)).Int("attempt", a.number).Int("status", a.status).
		Str("outcome", string(a.outcome)).Float64("latency_ms", millis(a.latency)).Float64("limiter_wait_ms", millis(a.wait))
	if err != nil {
		ev = ev.Str("error", err.Error())
	}
	ev.Msg("attempt")
}

// millis is d in milliseconds, to the microsecond, for a log field named
// …_ms: the unit is in the name (zerolog's Dur writes a bare number).
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func outcomeOf(err error) Outcome {
	var d *deferral
	switch {
	case err == nil:
		return OutcomeDelivered
	case errors.As(err, &d):
		return d.Outcome
	case errors.Is(err, asynq.SkipRetry):
		return OutcomeArchived
	}
	return OutcomeRetried
}

func statusOf(err error) int {
	var le *leadsquared.Error
	if err == nil {
		return 200
	}
	if errors.As(err, &le) {
		return le.StatusCode
	}
	return 0
}

// call is one decoded notification, ready to validate and send.
type call struct {
	system *leadsquared.SystemNotification
	push   *leadsquared.PushNotification
}

func (c call) validate() error {
	if c.system != nil {
		return c.system.Validate()
	}
	return c.push.Validate()
}

func (c call) send(ctx context.Context, s Sender) (tasks.Result, error) {
	if c.system != nil {
		id, err := s.SendSystem(ctx, *c.system)
		return tasks.Result{MessageID: id}, err
	}
	msg, err := s.SendPush(ctx, *c.push)
	return tasks.Result{Message: msg}, err
}

func decode(kind tasks.Kind, payload []byte) (tasks.Meta, call, error) {
	if kind == tasks.KindPush {
		var p tasks.PushPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return p.Meta, call{}, err
		}
		return p.Meta, call{push: &p.Body}, checkMeta(p.Meta)
	}
	var p tasks.SystemPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return p.Meta, call{}, err
	}
	return p.Meta, call{system: &p.Body}, checkMeta(p.Meta)
}

func checkMeta(m tasks.Meta) error {
	if m.Ref == "" || m.Account == "" || (m.Lane != tasks.LaneTransactional && m.Lane != tasks.LaneBulk) {
		return fmt.Errorf("payload lacks ref, account or a valid lane (ref %q, account %q, lane %q)", m.Ref, m.Account, m.Lane)
	}
	return nil
}
