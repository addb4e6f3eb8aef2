// Command blankbaseline is an empty program with the blank imports of
// automaxprocs and automemlimit, which set GOMAXPROCS and GOMEMLIMIT
// before main: what a user would import instead of tune. It prints its
// resident set size when main starts (BenchmarkBlankImport in
// bench/startup).
package main

import (
	"github.com/runtimehooks/tune/bench/internal/rss"

	_ "github.com/KimMachineGun/automemlimit"
	_ "go.uber.org/automaxprocs"
)

func main() { rss.Print() }
