// Command lsq-sandbox serves a strict local LeadSquared (internal/sandbox) on
// a port: the notification APIs and the key check with LeadSquared's rate
// limit, answers and faults on demand. Run lsq-sandbox -h for its flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
