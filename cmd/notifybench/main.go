// Command notifybench benchmarks lsqdispatch against its baselines: run
// `notifybench --quick` for a smoke test, `notifybench` for the full figures
// (see BENCHMARKS.md and internal/bench).
package main

import (
	"os"

	"github.com/lsqdispatch/lsqdispatch/internal/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
