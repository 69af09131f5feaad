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
// The full mode (the default) takes about 20 minutes; --quick shrinks every
// size to run in under a minute, as a smoke test for CI, and asserts
// nothing.
package bench
