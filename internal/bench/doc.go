// Package bench is notifybench: it measures lsqdispatch against a baseline
// in each scenario of BENCHMARKS.md, on this machine, and writes a Markdown
// table (and JSON).
//
// # Processes
//
// Every run starts its own redis-server on a free loopback port (no
// persistence) and serves the LeadSquared sandbox (internal/sandbox) from
// this process on another. Worker processes are this binary re-executed with
// a hidden first argument (see worker.go): "notifyd" runs internal/notifyd
// from the environment exactly as the notifyd binary does; "recipe" runs
// asynq's documented per-process rate-limit recipe; "plain" a plain asynq
// handler. Children get their own process group and die with the harness
// (Linux's parent-death signal); the harness also stops them on exit and on
// SIGINT.
//
// # Modes
//
// The full mode (the default) takes about 40 minutes, half of it the
// scheduling scenarios (9a-9f: LeadSquared's real windows, and asynq's lease
// and recoverer after a kill); --quick shrinks every size to run in under a
// minute, as a smoke test for CI, and asserts nothing. Of the scheduling
// scenarios quick mode runs 9a and 9b at a window scaled 1:5; the others it
// runs, scaled, only when --only names them.
package bench
