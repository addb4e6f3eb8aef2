// Package cgroup finds the calling process's cgroups and reads the memory and
// CPU limits that apply to it. It is the only code in tune that knows the
// layout of /proc and /sys.
//
// Handled:
//   - cgroup v2 (unified): memory.max, memory.high and cpu.max.
//   - cgroup v1 (legacy): memory.limit_in_bytes, hierarchical_memory_limit
//     from memory.stat, cpu.cfs_quota_us and cpu.cfs_period_us; controllers
//     mounted alone or together (cpu,cpuacct).
//   - hybrid hosts (v1 controllers plus a cgroup2 mount, usually at
//     /sys/fs/cgroup/unified): a controller's v1 hierarchy wins for that
//     controller; v2 is used only for a controller no v1 mount carries.
//   - containers that mount a subtree of the hierarchy (the mount's root is
//     the container's group) with or without a cgroup namespace: the group
//     path is resolved through the mount root; where several mounts carry the
//     hierarchy the one with the longest matching root wins.
//   - parent cgroups: every directory from the process's group up to the
//     mount point is read and the tightest limit wins. On v1,
//     hierarchical_memory_limit also brings in ancestors above the mount
//     point, which are not visible as directories. The real root group of
//     a v1 hierarchy (known by its release_agent file) holds no limit and
//     is not read, and then neither is memory.stat but on every 10th Read;
//     the root of a cgroup namespace (a "/" mount root without
//     release_agent) is read like any group, since it holds the
//     container's limits.
//   - mountinfo octal escapes, any number of optional fields, unrelated
//     mounts, and malformed or untranslatable lines for other controllers:
//     they are passed over (and listed in Layout.Warnings), never fatal.
//   - a controller that no hierarchy of the process has (a v1 host booted
//     with cgroup_disable=memory): no limit of that kind, not an error.
//
// Not handled: a group path outside the mounted subtree (a process moved
// out of its cgroup namespace, shown as "/.." paths) is an error for that
// controller, and so is a mount whose root lies above the namespace (the
// host's /sys/fs/cgroup bind-mounted into a container with a private
// cgroup namespace, root "/../.."), where the group cannot be placed;
// a controller bound to a v1 hierarchy that is not mounted is an error, not
// a fall back to cgroup2; cpuset and cpu.weight/cpu.shares are not read (GOMAXPROCS
// takes the affinity mask from the runtime); cgroup v1 mounted anywhere
// other than where mountinfo says is not searched for.
//
// Discover parses /proc/self/cgroup and /proc/self/mountinfo once; Open
// keeps the limit files open so that Reader.Read can re-read them at offset
// 0 without allocating.
package cgroup

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Hierarchy says where one controller's limits are found.
type Hierarchy struct {
	Version int    // 1 or 2; 0 when the controller was not found (with Err), or does not exist (without)
	Mount   string // the mount point, as mountinfo lists it
	// MountRoot is the group mounted there: "/" when the whole hierarchy
	// is visible, a group path when a container sees only its subtree.
	MountRoot string
	Group     string   // the process's group within the hierarchy, from /proc/self/cgroup
	Dirs      []string // file system paths (under the root): the process's group first, then each ancestor up to the mount point
	Err       error    // why the controller was not found, or nil
}

// Layout is the result of discovery: where the memory and CPU controllers
// of the process are.
type Layout struct {
	Root   string    // the file system root everything was read under
	Memory Hierarchy // the memory controller
	CPU    Hierarchy // the cpu controller
	HasV2  bool      // a cgroup2 file system is mounted (on a hybrid host, beside v1)

	procCgroup []byte  // /proc/self/cgroup as Discover read it
	Warnings   []error // lines of /proc/self/cgroup or mountinfo that were passed over
}

// Discover reads root/proc/self/cgroup and root/proc/self/mountinfo and
// finds the memory and CPU hierarchies of the process. An error is returned
// only when neither file can be read; a controller that cannot be found has
// its Hierarchy.Err set and the other is still returned.
func Discover(root string) (*Layout, error) {
	if root == "" {
		root = "/"
	}
	cgPath := filepath.Join(root, "proc/self/cgroup")
	cgData, err := readProcFile(cgPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", cgPath, err)
	}
	miPath := filepath.Join(root, "proc/self/mountinfo")
	miData, err := readProcFile(miPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", miPath, err)
	}
	entries, errs1 := ParseProcCgroup(cgData)
	mounts, errs2 := ParseMountInfo(miData)
	l := Resolve(root, entries, mounts)
	l.Warnings = append(append(errs1, errs2...), l.Warnings...)
	l.procCgroup = cgData
	return l, nil
}

// Resolve finds the memory and CPU hierarchies from parsed
// /proc/self/cgroup entries and cgroup mounts. It touches no files.
func Resolve(root string, entries []ProcEntry, mounts []Mount) *Layout {
	if root == "" {
		root = "/"
	}
	hasV2 := slices.ContainsFunc(mounts, func(m Mount) bool { return m.V2 })
	return &Layout{
		Root:   root,
		HasV2:  hasV2,
		Memory: resolve(root, "memory", entries, mounts),
		CPU:    resolve(root, "cpu", entries, mounts),
	}
}

func resolve(root, controller string, entries []ProcEntry, mounts []Mount) Hierarchy {
	var notFound error
	for _, e := range entries {
		if e.ID == "0" || !slices.Contains(e.Controllers, controller) {
			continue
		}
		h, err := place(root, e.Path, mounts, func(m Mount) bool {
			return !m.V2 && slices.Contains(m.Controllers, controller)
		})
		if err == nil {
			h.Version = 1
			return h
		}
		notFound = fmt.Errorf("%s (cgroup v1): %w", controller, err)
	}
	if notFound != nil {
		// The controller is bound to a v1 hierarchy, so the v2 hierarchy
		// cannot have it: falling back would read a group with no limit
		// files and report "no limit" for a limit we could not see.
		return Hierarchy{Err: notFound}
	}
	for _, e := range entries {
		if e.ID != "0" || len(e.Controllers) != 0 {
			continue
		}
		h, err := place(root, e.Path, mounts, func(m Mount) bool { return m.V2 })
		if err == nil {
			h.Version = 2
			return h
		}
		notFound = fmt.Errorf("%s (cgroup v2): %w", controller, err)
	}
	if notFound == nil {
		if len(entries) != 0 {
			// No v1 hierarchy of the process has the controller and there
			// is no v2 line: the kernel does not have it (a v1 host booted
			// with cgroup_disable=memory), so no limit of that kind exists.
			return Hierarchy{}
		}
		notFound = fmt.Errorf("%s: /proc/self/cgroup lists no cgroup", controller)
	}
	return Hierarchy{Err: notFound}
}

// place finds the mount of a hierarchy that holds group path p and lists
// the directories from p's up to the mount point.
func place(root, p string, mounts []Mount, match func(Mount) bool) (Hierarchy, error) {
	var best *Mount
	var roots []string
	for i := range mounts {
		m := &mounts[i]
		if !match(*m) {
			continue
		}
		roots = append(roots, m.Root)
		if !within(p, m.Root) {
			continue
		}
		if best == nil || len(m.Root) > len(best.Root) {
			best = m
		}
	}
	if best == nil {
		if len(roots) == 0 {
			return Hierarchy{}, errors.New("not mounted (no line of mountinfo mounts it)")
		}
		return Hierarchy{}, fmt.Errorf("group %q is outside every mounted subtree of its hierarchy (mount roots %q)", p, roots)
	}
	rel := strings.TrimPrefix(p, best.Root)
	top := filepath.Join(root, best.Point)
	dir := filepath.Join(top, rel)
	h := Hierarchy{Mount: best.Point, MountRoot: best.Root, Group: p}
	for {
		h.Dirs = append(h.Dirs, dir)
		if dir == top || len(dir) <= len(top) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return h, nil
}

// within reports whether group path p lies in the subtree rooted at r. A
// path with ".." elements (a group outside the process's cgroup namespace)
// lies in no mounted subtree, and a root with them (a mount made outside
// the namespace, such as the host's /sys/fs/cgroup bind-mounted into a
// container, shown as "/../..") holds no group we can place: cleaning it
// to "/" would read the host's top group as the process's.
func within(p, r string) bool {
	if slices.Contains(strings.Split(p, "/"), "..") || slices.Contains(strings.Split(r, "/"), "..") {
		return false
	}
	p, r = path.Clean(p), path.Clean(r)
	return r == "/" || p == r || strings.HasPrefix(p, r+"/")
}
