// Command servicetune is a small service (internal/service) with tune's
// blank import, which runs tune.Init with its defaults before main: what
// the import adds to a typical service (BenchmarkBlankService in
// bench/startup; cmd/serviceplain is the same without it).
package main

import (
	"github.com/runtimehooks/tune/bench/internal/service"

	_ "github.com/runtimehooks/tune/auto"
)

func main() { service.Run() }
