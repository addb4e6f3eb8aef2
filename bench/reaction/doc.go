// Package reaction measures how fast tune's refresh loop makes GOMEMLIMIT
// follow a cgroup memory limit that is lowered, raised and removed (on
// cgroup v1 here, on v2 in the VM lane's guest, memory.high too), and what
// the loop costs in CPU while the program idles. See reaction_test.go.
package reaction
