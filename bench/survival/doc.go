// Package survival holds the memory-limit tests of the workload
// (../cmd/workload) in real cgroup groups. TestSurvival runs it four ways
// under a memory limit (no tuning, automemlimit, tune, and no limit at all
// as the ceiling), on cgroup v1 here and v2 in the VM lane's guest, and
// the kernel's record says which survived. TestMemoryHigh (cgroup v2 only)
// runs it three ways under a memory.high below memory.max, where the
// kernel throttles instead of killing.
package survival
