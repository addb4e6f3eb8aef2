// Package quota measures GOMAXPROCS under a CPU quota set on an ancestor
// group only, the layout of a Kubernetes pod whose limit is on the pod's
// group and not on the container's: the Go runtime reads only the
// process's own group and runs as many threads as the machine has CPUs;
// tune reads every ancestor. It needs cgroup v2 and more CPUs than the
// quota (the VM lane's guest). See quota_test.go.
package quota
