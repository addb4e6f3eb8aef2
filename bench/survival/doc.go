// Package survival holds the memory-limit survival test: the workload
// (../cmd/workload) runs in a real cgroup v1 group with a memory limit, four
// ways (no tuning, automemlimit, tune, and no limit at all as the ceiling),
// and the kernel's record says which survived. See survival_test.go.
package survival
