// Package startup measures tune.Init against automaxprocs plus automemlimit
// (BenchmarkStartup), tune.Detect against automemlimit's FromCgroup
// (BenchmarkDetect), one no-change refresh tick's worth of automemlimit's
// work (BenchmarkTick), and what the blank import costs an empty program
// against the baselines' blank imports (BenchmarkBlankImport), inside a
// real cgroup v1 group with a memory limit and a CPU quota so that both
// sides have work to do. See startup_test.go.
package startup
