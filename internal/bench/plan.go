package bench

import "time"

// plan holds the sizes of a run: full or quick.
type plan struct {
	quick bool
	// limit is LeadSquared's calls per window; window is the scaled window
	// of the scenarios that drain a backlog (the real one is 5 s), and
	// margin LSQ_RATE_MARGIN scaled alike (the default 100ms is 2% of 5 s).
	limit  int
	window time.Duration
	margin time.Duration

	limitProcs   []int
	limitWorkers int
	limitBacklog int
	// limitReal, when set, adds a drain at LeadSquared's real window and
	// notifyd's default margin.
	limitReal *limitCase

	costProcs, costWorkers int
	costBacklog            int
	costPeriod             time.Duration
	// costWindow and costMargin are the limit's window and margin when
	// commands per delivery are measured (2 and 8a): per-second background
	// work (asynq's forwarder, heartbeats, polls) is spread over the
	// deliveries of a second, so the real window gives the real figure.
	costWindow, costMargin time.Duration

	prioWindow time.Duration
	prioBulk   int
	prioSends  int
	prioPeriod time.Duration

	idleSends int

	enqueueLines int

	footBacklog int
	footWorkers int
	footPeriod  time.Duration

	overTasks   int
	overWorkers int

	scaleSizes  []int
	scalePeriod time.Duration

	accounts       int
	accountsWindow time.Duration
	accountsPeriod time.Duration
	accountsProcs  int
	accountsConc   int
}

// limitCase is one drain of scenario 1.
type limitCase struct {
	procs   int
	backlog int
	window  time.Duration
	margin  time.Duration
}

func newPlan(quick bool) plan {
	p := plan{
		quick:  quick,
		limit:  25,
		window: time.Second,
		margin: 20 * time.Millisecond,

		limitProcs:   []int{1, 3, 6},
		limitWorkers: 20,
		limitBacklog: 2000,
		limitReal:    &limitCase{procs: 3, backlog: 500, window: 5 * time.Second, margin: 100 * time.Millisecond},

		costProcs: 3, costWorkers: 20,
		costBacklog: 2000,
		costPeriod:  30 * time.Second,
		costWindow:  5 * time.Second,
		costMargin:  100 * time.Millisecond,

		prioWindow: 5 * time.Second,
		prioBulk:   10_000,
		prioSends:  40,
		prioPeriod: 40 * time.Second,

		idleSends: 80,

		enqueueLines: 100_000,

		footBacklog: 100_000,
		footWorkers: 60,
		footPeriod:  15 * time.Second,

		overTasks:   20_000,
		overWorkers: 50,

		scaleSizes:  []int{1_000, 100_000, 1_000_000},
		scalePeriod: 15 * time.Second,

		accounts:       50,
		accountsWindow: 5 * time.Second,
		accountsPeriod: 30 * time.Second,
		accountsProcs:  3,
		accountsConc:   40,
	}
	if quick {
		p.limitProcs = []int{1, 3}
		p.limitBacklog = 200
		p.limitReal = nil
		p.costBacklog = 400
		p.costPeriod = 2 * time.Second
		p.costWindow, p.costMargin = p.window, p.margin
		p.prioWindow = time.Second
		p.prioBulk = 2_000
		p.prioSends = 8
		p.prioPeriod = 2 * time.Second
		p.idleSends = 8
		p.enqueueLines = 5_000
		p.footBacklog = 5_000
		p.footPeriod = 2 * time.Second
		p.overTasks = 2_000
		p.scaleSizes = []int{1_000, 10_000}
		p.scalePeriod = 2 * time.Second
		p.accounts = 10
		p.accountsWindow = time.Second
		p.accountsPeriod = 2 * time.Second
		p.accountsConc = 20
	}
	return p
}
