// Command blanktune is an empty program with tune's blank import, which
// runs tune.Init with its defaults before main: it prints its resident set
// size when main starts (BenchmarkBlankImport in bench/startup).
package main

import (
	"github.com/runtimehooks/tune/bench/internal/rss"

	_ "github.com/runtimehooks/tune/auto"
)

func main() { rss.Print() }
