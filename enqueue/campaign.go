package enqueue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Campaign defaults and limits.
const (
	DefaultBatchSize = 500
	// DefaultConcurrency is 64 enqueues at once: they wait on Redis, not on
	// the CPU, and the more wait together, the longer the pipelines autoPipe
	// gathers. On 2 cores 64 needed about 45 µs of CPU a line (Go and Redis
	// together) where 16 needed 55, for 23-24k lines/s against 17-18k on a
	// busy machine (BenchmarkCampaign, BENCH_CONCURRENCY).
	DefaultConcurrency = 64
	// MaxProblems is how many problems a CampaignReport keeps; it counts all.
	MaxProblems = 1000
)

// CampaignOptions adjusts a campaign. The zero value is ready to use.
type CampaignOptions struct {
	// Name is recorded in every task (tasks.Meta.Campaign); it names the
	// campaign's scheduling group. Default: a generated name,
	// "campaign-<UTC time>-<random>", returned in CampaignReport.Name.
	Name string
	// Account sends lines that name no account. Default: tasks.DefaultAccount.
	Account string
	// SkipInvalid enqueues the valid lines when some are invalid. Default:
	// false, an invalid line stops the campaign before anything is enqueued.
	SkipInvalid bool
	// BatchSize is how many lines are claimed in one pipeline. Default: 500.
	BatchSize int
	// Concurrency is how many enqueues run at once. Default: 64.
	Concurrency int
	// Progress, when set, is called now and then with the report so far
	// (from the goroutine that called Campaign). It must not keep Problems.
	Progress func(CampaignReport)
	// TempDir holds the spool file. Default: os.TempDir().
	TempDir string
	// ExpiresAt is the expiry of every line that has no "expires_at" of its
	// own (see ExpiresAt the option). Default: none.
	ExpiresAt time.Time
	// Weight is the campaign's share of its account's rate against the
	// account's other active campaigns (and its bulk sends of no campaign),
	// from 1 to MaxWeight: a campaign of weight 3 gets three calls for each
	// one of a campaign of weight 1. Default: 1. It needs a Name.
	Weight int
}

// MaxWeight is the highest campaign weight.
const MaxWeight = 1000

// weightTTL is how long a campaign's weight is kept after its last batch.
const weightTTL = 7 * 24 * time.Hour

// CampaignReport tells what a campaign did.
type CampaignReport struct {
	// Name is CampaignOptions.Name.
	Name string
	// Lines counts the non-blank lines read: Valid plus Invalid.
	Lines, Valid, Invalid int
	// Enqueued counts the new tasks, Duplicates the lines whose ref Redis
	// already knew (an earlier line of the same file included).
	Enqueued, Duplicates int
	// Problems holds the first MaxProblems problems, in line order;
	// ProblemCount counts them all.
	Problems     []LineError
	ProblemCount int
	// Checked is true once every line was read and checked (pass 1).
	Checked bool
	// Duration is the time spent so far.
	Duration time.Duration
}

// Campaign enqueues notifications from JSON Lines, one notification a line:
//
//	{"type":"system","ref":"lead-42","body":{…LeadSquared's system body…}}
//	{"type":"push","ref":"sig-7","account":"eu","at":"2026-01-02T15:04:05Z","body":{…}}
//
// "type", "ref" and "body" are required; "account" (default
// CampaignOptions.Account) and "at" (RFC 3339) are optional. Field names are
// exact and case-sensitive, also in the body, and unknown fields are errors.
// Blank lines are skipped; a line may be at most MaxLineBytes long. Every
// notification goes to the bulk lane.
//
// r is read once, in bounded memory, however long: pass 1 checks every line
// and spools the valid ones to a temp file; when a line is invalid and
// SkipInvalid is false, Campaign returns an error wrapping
// ErrInvalidCampaign, with the report listing the problems, and enqueues
// nothing. Pass 2 enqueues from the spool in batches: one pipeline claims a
// batch's refs, then Concurrency goroutines enqueue its tasks. A ref Redis
// already knows is counted as a duplicate. A Redis error stops the
// campaign; what was enqueued before stays enqueued, as the report says.
func (c *Client) Campaign(ctx context.Context, r io.Reader, o CampaignOptions) (CampaignReport, error) {
	start := time.Now()
	if o.Name == "" {
		o.Name = "campaign-" + start.UTC().Format("20060102-150405") + "-" + uuid.NewString()[:4]
	}
	rep := CampaignReport{Name: o.Name}
	o.BatchSize = cmpOr(o.BatchSize, DefaultBatchSize)
	o.Concurrency = cmpOr(o.Concurrency, DefaultConcurrency)
	o.Account = cmpOr(o.Account, tasks.DefaultAccount)
	if err := o.validate(); err != nil {
		return rep, err
	}
	progress := func() {
		if o.Progress != nil {
			rep.Duration = time.Since(start)
			o.Progress(rep)
		}
	}
	sp, err := newSpool(o.TempDir)
	if err != nil {
		return rep, fmt.Errorf("enqueue: campaign: %w", err)
	}
	defer sp.remove()

	if err := c.check(ctx, r, &o, &rep, sp, progress); err != nil {
		rep.Duration = time.Since(start)
		return rep, fmt.Errorf("enqueue: campaign: %w", err)
	}
	rep.Checked = true
	progress()
	if rep.Invalid > 0 && !o.SkipInvalid {
		rep.Duration = time.Since(start)
		return rep, fmt.Errorf("%w: %d of %d lines are invalid; nothing was enqueued", ErrInvalidCampaign, rep.Invalid, rep.Lines)
	}
	err = c.enqueueSpool(ctx, sp, &o, &rep, progress)
	rep.Duration = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("enqueue: campaign stopped after %d enqueued and %d duplicates: %w", rep.Enqueued, rep.Duplicates, err)
	}
	return rep, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (o *CampaignOptions) validate() error {
	p := &problems{}
	if o.Name != "" {
		if r := checkRef(o.Name); r != "" {
			p.add("Name", "%s", r)
		}
	}
	if r := checkAccount(o.Account); r != "" {
		p.add("Account", "%s", r)
	}
	if o.BatchSize < 1 || o.BatchSize > 10000 {
		p.add("BatchSize", "%d is not from 1 to 10000", o.BatchSize)
	}
	if o.Concurrency < 1 || o.Concurrency > 256 {
		p.add("Concurrency", "%d is not from 1 to 256", o.Concurrency)
	}
	switch {
	case o.Weight < 0 || o.Weight > MaxWeight:
		p.add("Weight", "%d is not from 1 to %d", o.Weight, MaxWeight)
	}
	if err := p.err(); err != nil {
		return fmt.Errorf("enqueue: campaign options: %w", err)
	}
	return nil
}

// check is pass 1: it reads every line, reports problems and spools the
// valid lines.
func (c *Client) check(ctx context.Context, r io.Reader, o *CampaignOptions, rep *CampaignReport, sp *spool, progress func()) error {
	lp := &lineParser{account: o.Account, campaign: o.Name, expires: o.ExpiresAt, problems: func(e LineError) {
		rep.ProblemCount++
		if len(rep.Problems) < MaxProblems {
			rep.Problems = append(rep.Problems, e)
		}
	}}
	br := bufio.NewReaderSize(r, MaxLineBytes+2) // room for the line and "\r\n"
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of the line
				_, err = br.ReadSlice('\n')
			}
			rep.Lines++
			rep.Invalid++
			lp.problems(LineError{Line: n, Field: "line", Reason: fmt.Sprintf("longer than %d bytes (1 MiB)", MaxLineBytes)})
		} else if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			if n == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
			}
			if len(line) > MaxLineBytes {
				rep.Lines++
				rep.Invalid++
				lp.problems(LineError{Line: n, Field: "line", Reason: fmt.Sprintf("longer than %d bytes (1 MiB)", MaxLineBytes)})
			} else if len(bytes.TrimSpace(line)) > 0 {
				rep.Lines++
				if it := lp.parse(line, n); it != nil {
					rep.Valid++
					if werr := sp.write(it, n); werr != nil {
						return werr
					}
				} else {
					rep.Invalid++
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", n, err)
		}
		if n%(o.BatchSize*4) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress()
		}
	}
}

// enqueueSpool is pass 2.
func (c *Client) enqueueSpool(ctx context.Context, sp *spool, o *CampaignOptions, rep *CampaignReport, progress func()) error {
	sr, err := sp.reader()
	if err != nil {
		return err
	}
	// Gather the concurrent enqueues into pipelines (see autoPipe) until the
	// last batch is done.
	ap := newAutoPipe(c.rdb)
	aq := asynq.NewClientFromRedisClient(ap)
	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { ap.run(runCtx); close(stopped) }()
	defer func() { stop(); <-stopped }()
	ctx = batching(ctx)

	run := &campaignRun{reg: c.registry(), name: o.Name, weight: max(o.Weight, 1), started: map[string]bool{}}
	defer run.seal(ctx)
	batch := make([]*item, 0, o.BatchSize)
	weighted := map[string]bool{}
	for done := false; !done; {
		batch = batch[:0]
		for len(batch) < o.BatchSize {
			it, _, err := sr.read()
			if err == io.EOF {
				done = true
				break
			}
			if err != nil {
				return err
			}
			it.meta.Lane, it.meta.Campaign = tasks.LaneBulk, o.Name
			batch = append(batch, it)
		}
		if len(batch) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := run.start(ctx, batch); err != nil {
			return err
		}
		if err := c.weigh(ctx, batch, o.Weight, weighted); err != nil {
			return err
		}
		counts := map[string]int{}
		err := c.enqueueBatch(ctx, aq, batch, o.Concurrency, rep, counts)
		if cerr := run.count(ctx, c, counts); cerr != nil {
			return errors.Join(err, cerr)
		}
		if err != nil {
			return err
		}
		progress()
	}
	return nil
}

// campaignRun registers a campaign in each account it enqueues for, counts
// what it enqueued there and seals it at the end.
type campaignRun struct {
	reg     *campaign.Registry
	name    string
	weight  int
	started map[string]bool // account -> registered by this run
}

// start registers the campaign in the accounts of batch it is not yet in.
func (r *campaignRun) start(ctx context.Context, batch []*item) error {
	for _, it := range batch {
		if acct := it.meta.Account; !r.started[acct] {
			if err := r.reg.Start(ctx, acct, r.name, r.weight); err != nil {
				return err
			}
			r.started[acct] = true
		}
	}
	return nil
}

// count adds the tasks enqueued per account; a campaign cancelled meanwhile
// stops the producer, after its last batch is swept too.
func (r *campaignRun) count(ctx context.Context, c *Client, counts map[string]int) error {
	bg := context.WithoutCancel(ctx)
	for acct, n := range counts {
		st, err := r.reg.Add(bg, acct, r.name, n, false)
		if err != nil {
			return err
		}
		if st == campaign.Cancelled {
			if err := c.sweep(bg, acct, r.name); err != nil {
				return err
			}
			return fmt.Errorf("%w: campaign %q of account %q was cancelled while it was enqueued", ErrCampaignCancelled, r.name, acct)
		}
	}
	return nil
}

// seal tells each account's record that the producer is done, so that the
// campaign completes once every notification reached a final outcome.
func (r *campaignRun) seal(ctx context.Context) {
	for acct := range r.started {
		_, _ = r.reg.Add(context.WithoutCancel(ctx), acct, r.name, 0, true)
	}
}

// weigh records the campaign's weight for each of its groups (one per
// account) not yet weighted, before their tasks are enqueued.
func (c *Client) weigh(ctx context.Context, batch []*item, weight int, done map[string]bool) error {
	if weight <= 1 {
		return nil
	}
	var groups []string
	for _, it := range batch {
		if g := tasks.Group(it.meta.Account, it.meta.Campaign); !done[g] {
			done[g] = true
			groups = append(groups, g)
		}
	}
	return setWeights(ctx, c.rdb, groups, weight)
}

func setWeights(ctx context.Context, rdb redis.Cmdable, groups []string, weight int) error {
	if len(groups) == 0 {
		return nil
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, g := range groups {
			p.Set(ctx, keys.DispatchWeight(g), weight, weightTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the weight of group %q: %w", groups[0], err)
	}
	return nil
}

// enqueueBatch claims the batch's refs in one pipeline, enqueues the claimed
// (and examines the others) with concurrency goroutines, then confirms the
// claims in one pipeline.
// counts receives the tasks enqueued per account.
func (c *Client) enqueueBatch(ctx context.Context, aq *asynq.Client, batch []*item, concurrency int, rep *CampaignReport, counts map[string]int) error {
	enqueuedAt := now().UTC()
	claims := make([]*redis.BoolCmd, len(batch))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range batch {
			it.meta.EnqueuedAt = enqueuedAt
			claims[i] = p.SetNX(ctx, it.key(), it.queue(), claimLease)
		}
		return nil
	})
	if err != nil {
		c.releaseClaimed(ctx, batch, claims, nil)
		return fmt.Errorf("claim %d refs: %w", len(batch), err)
	}

	var (
		next           atomic.Int64
		failed         atomic.Bool
		mu             sync.Mutex
		firstErr       error
		enqueued, dups int
		toConfirm      = make([]bool, len(batch))
		handled        = make([]bool, len(batch))
		wg             sync.WaitGroup
	)
	for range min(concurrency, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(batch) {
					return
				}
				res, confirm, err := c.place(ctx, aq, batch[i], claims[i].Val(), false)
				mu.Lock()
				handled[i], toConfirm[i] = true, confirm
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
					failed.Store(true)
				case res.Duplicate:
					dups++
				default:
					enqueued++
					counts[batch[i].meta.Account]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Enqueued += enqueued
	rep.Duplicates += dups

	// Confirm even when ctx ended: these tasks are enqueued.
	var confirm []*item
	for i, it := range batch {
		if toConfirm[i] {
			confirm = append(confirm, it)
		}
	}
	cerr := claimScripts(context.WithoutCancel(ctx), c.rdb, confirmScript, confirm, leaseMillis)
	if firstErr != nil {
		c.releaseClaimed(ctx, batch, claims, handled)
		return firstErr
	}
	if cerr != nil {
		return fmt.Errorf("confirm %d ref registry entries (their tasks are enqueued): %w", len(confirm), cerr)
	}
	return nil
}

// releaseClaimed drops the claims of items not handled, after a failure.
func (c *Client) releaseClaimed(ctx context.Context, batch []*item, claims []*redis.BoolCmd, handled []bool) {
	var release []*item
	for i, it := range batch {
		if claims[i] != nil && claims[i].Val() && (handled == nil || !handled[i]) {
			release = append(release, it)
		}
	}
	_ = claimScripts(context.WithoutCancel(ctx), c.rdb, releaseScript, release)
}
