// Command notifyctl enqueues and inspects LeadSquared notifications from the
// shell: see internal/cli, or run notifyctl --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lsqdispatch/lsqdispatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
