// Command notifyd delivers LeadSquared notifications from Redis under one
// global rate limit per account. See the README for its configuration.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/lsqdispatch/lsqdispatch/internal/demo" // registers `notifyd demo`
	"github.com/lsqdispatch/lsqdispatch/internal/notifyd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := notifyd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
