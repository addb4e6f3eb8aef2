// Package startup measures tune.Init against automaxprocs plus automemlimit
// (BenchmarkStartup), and one no-change refresh tick's worth of
// automemlimit's work (BenchmarkTick), inside a real cgroup v1 group with
// a memory limit and a CPU quota so that both sides have work to do. See
// startup_test.go.
package startup
