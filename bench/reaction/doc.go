// Package reaction measures how fast tune's refresh loop makes GOMEMLIMIT
// follow a lowered cgroup memory limit, and what the loop costs in CPU
// while the program idles. See reaction_test.go.
package reaction
