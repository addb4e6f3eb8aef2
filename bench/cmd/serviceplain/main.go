// Command serviceplain is the reference of the typical-service rows: a
// small service (internal/service) without tune. It prints its resident
// set size once it is set up (BenchmarkBlankService in bench/startup);
// cmd/servicetune is the same with tune's blank import.
package main

import "github.com/runtimehooks/tune/bench/internal/service"

func main() { service.Run() }
