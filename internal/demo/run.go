package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// Polling of the drain.
const (
	// pollInterval is how often the queues are read for the progress.
	pollInterval = 200 * time.Millisecond
	// stallTimeout ends a drain in which nothing moved for this long.
	stallTimeout = 2 * time.Minute
)

// Run enqueues the campaign, then the transactional notifications one by
// one while it drains, shows the progress until every notification is
// delivered or dead-lettered (or ctx ends), prints the summary and returns
// it. An error means the run could not go on (the campaign failed, Redis
// failed, or nothing moved for two minutes), with the summary so far; the
// summary's Err says whether the outcome was right.
func (d *Demo) Run(ctx context.Context) (Summary, error) {
	o := d.opts
	sum := Summary{Lines: d.campaign.lines}
	limit, window := d.sandbox.Limit()
	sum.Limit, sum.Window = limit, window

	start := time.Now()
	rep, err := d.client.Campaign(ctx, bytes.NewReader(d.campaign.jsonl),
		enqueue.CampaignOptions{Name: "demo", SkipInvalid: true})
	sum.Invalid, sum.Enqueued = rep.Invalid, rep.Enqueued
	if err != nil {
		return sum, fmt.Errorf("demo: campaign: %w", err)
	}
	fmt.Fprintf(o.Out, "Campaign %q: %d lines read, %d enqueued to the bulk lane in %s",
		rep.Name, rep.Lines, rep.Enqueued, rep.Duration.Round(time.Millisecond))
	if rep.Invalid > 0 {
		fmt.Fprintf(o.Out, ", %d refused before anything was sent:\n", rep.Invalid)
		for _, p := range rep.Problems {
			fmt.Fprintf(o.Out, "  %s\n", p)
		}
	} else {
		fmt.Fprintln(o.Out)
	}
	rate := worker.DefaultPolicy.Rate
	total := rep.Enqueued + o.Transactional
	expected := time.Duration(float64(total) / float64(rate.Calls) * float64(rate.Window))
	fmt.Fprintf(o.Out, "Sending %d notifications at %d calls per %s (about %s), %d of them transactional …\n\n",
		total, rate.Calls, rate.Window, expected.Round(time.Second), o.Transactional)

	tx := &txSender{client: d.client, calls: d.calls, count: o.Transactional,
		interval: max(expected/time.Duration(o.Transactional+1), time.Second)}
	txCtx, stopTx := context.WithCancel(ctx)
	txDone := make(chan struct{})
	go func() { defer close(txDone); tx.run(txCtx) }()
	defer func() { stopTx(); <-txDone }()

	var disp display = &lineDisplay{out: o.Out, interval: o.Interval}
	if o.Terminal {
		disp = newBarDisplay(o.Out, total, o.Width)
	}
	p, err := d.drain(ctx, start, total, txDone, disp)
	disp.finish(p)
	sum.Elapsed = p.elapsed
	stopTx()
	<-txDone

	// Settle the figures from Redis and LeadSquared's records.
	sum.Transactional = tx.enqueued()
	sum.Valid = sum.Enqueued + sum.Transactional
	sum.Delivered, sum.DeadLettered, sum.Queued = p.delivered, p.dead, p.waiting+p.retrying
	sum.Lost = sum.Valid - sum.Delivered - sum.DeadLettered - sum.Queued
	st := d.sandbox.Stats()
	calls := d.calls.snapshot(time.Now())
	sum.Retried, sum.RateLimited = calls.failed, st.RateLimited
	sum.Calls, sum.Duplicates, sum.MaxInWindow = st.Counted, len(st.DuplicateRefs), st.MaxInWindow
	sum.TxLatencies = tx.latencies()
	if errors.Is(err, context.Canceled) {
		sum.Interrupted, err = true, nil
	}
	sum.print(o.Out)
	return sum, err
}

// drain polls the queues until every notification settled, nothing is left
// to wait for, or ctx ends, updating disp as it goes.
func (d *Demo) drain(ctx context.Context, start time.Time, total int, txDone <-chan struct{}, disp display) (progress, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var (
		p         progress
		lastMove  = time.Now()
		idleSeen  int
		lastState [4]int
	)
	for {
		now := time.Now()
		st, err := d.queues.Stats(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			return p, fmt.Errorf("demo: read the queues: %w", err)
		}
		calls := d.calls.snapshot(now)
		limit, window := d.sandbox.Limit()
		p = progress{elapsed: now.Sub(start), total: total, retried: calls.failed,
			inWindow: calls.inWindow, limit: limit, window: window}
		for _, q := range st.Queues {
			p.delivered += q.Completed
			p.dead += q.Archived
			p.waiting += q.Pending + q.Scheduled + q.Active
			p.retrying += q.Retry
		}
		p.settled = p.delivered + p.dead
		disp.update(p)

		txFinished := isClosed(txDone)
		idle := p.waiting+p.retrying == 0
		switch {
		case txFinished && p.settled >= total && idle:
			return p, nil
		case txFinished && idle:
			// Nothing left to wait for, yet not all settled: look twice, a
			// moment apart, before calling the rest lost.
			if idleSeen++; idleSeen >= 5 {
				return p, nil
			}
		default:
			idleSeen = 0
		}
		state := [4]int{p.delivered, p.dead, p.waiting, p.retrying}
		if state != lastState {
			lastState, lastMove = state, now
		} else if now.Sub(lastMove) > stallTimeout {
			return p, fmt.Errorf("demo: nothing moved for %s: %d waiting, %d to retry", stallTimeout, p.waiting, p.retrying)
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-tick.C:
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// txSender sends the transactional notifications, one every interval, and
// measures how long each takes from enqueue to LeadSquared.
type txSender struct {
	client   *enqueue.Client
	calls    *callLog
	count    int
	interval time.Duration

	mu   sync.Mutex
	sent []txSent
}

type txSent struct {
	ref string
	at  time.Time
}

func (s *txSender) run(ctx context.Context) {
	for i := range s.count {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.interval):
		}
		u := users[(i*3+1)%len(users)]
		ref := fmt.Sprintf("%s%d", txPrefix, i+1)
		n := leadsquared.SystemNotification{Type: "Lead", ToUser: u.id, CardContents: leadsquared.CardContents{
			Message:     fmt.Sprintf("Hot lead: %s is on the pricing page right now", u.name),
			Description: "Transactional: sent ahead of the campaign.",
			CTA:         &leadsquared.CTA{CTALabel: "Call now", CTALink: "https://crm.example.com/lead/hot"},
		}}
		at := time.Now()
		if _, err := s.client.SendSystem(ctx, n, enqueue.WithRef(ref)); err != nil {
			continue // counted as not enqueued; the summary shows how many were
		}
		s.mu.Lock()
		s.sent = append(s.sent, txSent{ref: ref, at: at})
		s.mu.Unlock()
	}
}

func (s *txSender) enqueued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// latencies returns the time from enqueue to LeadSquared of each delivered
// transactional notification.
func (s *txSender) latencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, t := range s.sent {
		if at, ok := s.calls.accepted(t.ref); ok {
			out = append(out, at.Sub(t.at))
		}
	}
	return out
}
