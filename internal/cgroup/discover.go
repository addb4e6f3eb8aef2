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

// Dir is one way to reach a group's directory: through which mount.
type Dir struct {
	Path  string // the directory (under the root)
	Mount string // the mount point it is reached through, as mountinfo lists it
}

// Hierarchy says where one controller's limits are found.
type Hierarchy struct {
	Version int // 1 or 2; 0 when the controller was not found (with Err), or does not exist (without)
	// Mount is the mount the process's own group is reached through first:
	// of the mounts that show the group, the one whose root is nearest to
	// it. MountRoot is the group mounted there: "/" when the whole
	// hierarchy is visible, a group path when a container sees only its
	// subtree.
	Mount     string
	MountRoot string
	Group     string // the process's group within the hierarchy, from /proc/self/cgroup
	// Dirs lists file system paths (under the root): the process's group
	// first, then each ancestor up to the highest one any mount shows,
	// each through its first way (Ways[i][0]).
	Dirs []string
	// Ways lists, for each entry of Dirs, every mount that shows that
	// group (at most maxWays), in the order they are tried: nearest mount
	// root first, then as mountinfo lists them. A file that cannot be
	// opened through one (permission denied) is opened through the next.
	Ways [][]Dir
	Err  error // why the controller was not found, or nil
}

// maxWays is how many mounts of one group are kept: enough to fall back
// from an unreadable mount, bounded against a mountinfo of thousands.
const maxWays = 3

// pathMax is PATH_MAX: the kernel writes no longer cgroup path in
// /proc/self/cgroup, and no mount point or root of a usable mount is
// longer.
const pathMax = 4096

// Layout is the result of discovery: where the memory and CPU controllers
// of the process are.
type Layout struct {
	Root   string    // the file system root everything was read under
	Memory Hierarchy // the memory controller
	CPU    Hierarchy // the cpu controller
	HasV2  bool      // a cgroup2 file system is mounted (on a hybrid host, beside v1)

	procCgroup []byte // /proc/self/cgroup as Discover read it
	// Warnings describes the lines of /proc/self/cgroup or mountinfo that
	// were passed over: the first few, then one error that counts the rest.
	Warnings []error
}

// Discover reads root/proc/self/cgroup and root/proc/self/mountinfo and
// finds the memory and CPU hierarchies of the process. An error is returned
// only when neither file can be read; a controller that cannot be found has
// its Hierarchy.Err set and the other is still returned.
//
// Under a root other than "/" (a snapshot) no file outside the root is
// read: see fsys.
func Discover(root string) (*Layout, error) {
	if root == "" {
		root = "/"
	}
	fs, err := openFS(root)
	if err != nil {
		return nil, fmt.Errorf("opening the root: %w", err)
	}
	defer fs.close()
	cgData, err := fs.readAll(filepath.Join(root, "proc/self/cgroup"), maxProcFile)
	if err != nil {
		return nil, err
	}
	miData, err := fs.readAll(filepath.Join(root, "proc/self/mountinfo"), maxProcFile)
	if err != nil {
		return nil, err
	}
	entries, w := parseProcCgroup(cgData)
	mounts, w2 := parseMountInfo(miData)
	w.merge(w2)
	l, w3 := resolveAll(root, entries, mounts)
	w.merge(w3)
	l.Warnings = w.list("/proc/self/cgroup and mountinfo")
	l.procCgroup = cgData
	return l, nil
}

// Resolve finds the memory and CPU hierarchies from parsed
// /proc/self/cgroup entries and cgroup mounts. It touches no files. Its
// cost grows linearly with the number of entries and mounts.
func Resolve(root string, entries []ProcEntry, mounts []Mount) *Layout {
	l, w := resolveAll(root, entries, mounts)
	l.Warnings = w.list("/proc/self/cgroup and mountinfo")
	return l
}

func resolveAll(root string, entries []ProcEntry, mounts []Mount) (*Layout, warnings) {
	if root == "" {
		root = "/"
	}
	var w warnings
	hasV2 := slices.ContainsFunc(mounts, func(m Mount) bool { return m.V2 })
	return &Layout{
		Root:   root,
		HasV2:  hasV2,
		Memory: resolve(root, "memory", entries, mounts, &w),
		CPU:    resolve(root, "cpu", entries, mounts, &w),
	}, w
}

// resolve places controller: in the v1 hierarchy that has it, if a line of
// /proc/self/cgroup binds it to one, or else in the v2 hierarchy. Only the
// first line that could name the controller's group is used; the kernel
// writes one per hierarchy, so further ones are passed over.
func resolve(root, controller string, entries []ProcEntry, mounts []Mount, w *warnings) Hierarchy {
	var v1, v2 *ProcEntry
	var n1, n2 int
	for i := range entries {
		e := &entries[i]
		switch {
		case e.ID != "0" && slices.Contains(e.Controllers, controller):
			if n1++; v1 == nil {
				v1 = e
			}
		case e.ID == "0" && len(e.Controllers) == 0:
			if n2++; v2 == nil {
				v2 = e
			}
		}
	}
	if n1 > 1 {
		w.add(fmt.Errorf("/proc/self/cgroup: %d lines bind %s to a v1 hierarchy; the first (hierarchy %s) is used", n1, controller, quote(v1.ID, maxLineQuote)))
	}
	if v1 != nil {
		// The controller is bound to a v1 hierarchy, so the v2 hierarchy
		// cannot have it: falling back would read a group with no limit
		// files and report "no limit" for a limit we could not see.
		h, err := place(root, v1.Path, mounts, func(m *Mount) bool {
			return !m.V2 && slices.Contains(m.Controllers, controller)
		}, w)
		if err != nil {
			return Hierarchy{Err: fmt.Errorf("%s (cgroup v1): %w", controller, err)}
		}
		h.Version = 1
		return h
	}
	if n2 > 1 && controller == "memory" { // said once, not for each controller
		w.add(fmt.Errorf("/proc/self/cgroup: %d lines for the v2 hierarchy (0::); the first is used", n2))
	}
	if v2 != nil {
		h, err := place(root, v2.Path, mounts, func(m *Mount) bool { return m.V2 }, w)
		if err != nil {
			return Hierarchy{Err: fmt.Errorf("%s (cgroup v2): %w", controller, err)}
		}
		h.Version = 2
		return h
	}
	if len(entries) != 0 {
		// No v1 hierarchy of the process has the controller and there is
		// no v2 line: the kernel does not have it (a v1 host booted with
		// cgroup_disable=memory), so no limit of that kind exists.
		return Hierarchy{}
	}
	return Hierarchy{Err: fmt.Errorf("%s: /proc/self/cgroup lists no cgroup", controller)}
}

// place finds every mount of a hierarchy that shows group path p and lists
// the group's directory and its ancestors' through them: each level as far
// up as any mount shows it. One pass over the mounts.
func place(root, p string, mounts []Mount, match func(*Mount) bool, w *warnings) (Hierarchy, error) {
	if len(p) > pathMax {
		return Hierarchy{}, fmt.Errorf("group path %s is %d bytes, longer than the kernel writes (PATH_MAX %d)", quote(p, maxLineQuote), len(p), pathMax)
	}
	pe := elems(p)
	type seen struct {
		m     *Mount
		depth int // elements in the mount's root
	}
	var shows []seen
	var matched int
	var roots []string // the first few, for an error
	var refused error
	for i := range mounts {
		m := &mounts[i]
		if !match(m) {
			continue
		}
		if matched++; len(roots) < 3 {
			roots = append(roots, quote(m.Root, maxLineQuote))
		}
		if err := usable(m); err != nil {
			if refused == nil {
				refused = err
			}
			continue
		}
		re := elems(m.Root)
		if !under(pe, re) {
			continue
		}
		shows = append(shows, seen{m, len(re)})
	}
	switch {
	case len(shows) == 0 && refused != nil:
		return Hierarchy{}, refused
	case len(shows) == 0 && matched == 0:
		return Hierarchy{}, errors.New("not mounted (no line of mountinfo mounts it)")
	case len(shows) == 0:
		more := ""
		if matched > len(roots) {
			more = fmt.Sprintf(" and %d more", matched-len(roots))
		}
		return Hierarchy{}, fmt.Errorf("group %s is outside every mounted subtree of its hierarchy (mount roots [%s]%s)", quote(p, maxLineQuote), strings.Join(roots, " "), more)
	case refused != nil:
		w.add(refused)
	}
	// Nearest root first: the mount made for the process's own group (a
	// container's) is the one meant to be read; wider ones (the host's,
	// bind-mounted for an agent) add the ancestors it hides.
	slices.SortStableFunc(shows, func(a, b seen) int { return b.depth - a.depth })
	levels := len(pe) - shows[len(shows)-1].depth + 1
	h := Hierarchy{Mount: shows[0].m.Point, MountRoot: shows[0].m.Root, Group: p, Ways: make([][]Dir, levels)}
	full := 0 // the levels below full have maxWays ways each
	for _, s := range shows {
		n := len(pe) - s.depth + 1 // the levels this mount shows
		if n <= full {
			continue
		}
		dir := filepath.Join(root, s.m.Point, strings.Join(pe[s.depth:], "/"))
		for l := range n {
			if l >= full {
				h.Ways[l] = append(h.Ways[l], Dir{Path: dir, Mount: s.m.Point})
			}
			dir = parent(dir)
		}
		for full < levels && len(h.Ways[full]) == maxWays {
			full++
		}
	}
	h.Dirs = make([]string, levels)
	for l, ways := range h.Ways {
		h.Dirs[l] = ways[0].Path
	}
	return h, nil
}

// usable refuses a mount whose point or root no kernel writes: one that
// would lead out of the root, or longer than PATH_MAX.
func usable(m *Mount) error {
	switch {
	case len(m.Point) > pathMax || len(m.Root) > pathMax:
		return fmt.Errorf("mount point %s (root %s) longer than PATH_MAX: refused", quote(m.Point, maxLineQuote), quote(m.Root, maxLineQuote))
	case slices.Contains(strings.Split(m.Point, "/"), ".."):
		return fmt.Errorf("mount point %s has \"..\" in it, which no kernel writes and which would lead out of the root: refused", quote(m.Point, maxLineQuote))
	}
	return nil
}

// parent is the directory above dir, a clean path, without the cleaning
// (and copying) filepath.Dir does.
func parent(dir string) string {
	i := strings.LastIndexByte(dir, filepath.Separator)
	switch {
	case i > 0:
		return dir[:i]
	case i == 0:
		return dir[:1]
	}
	return "."
}

// elems splits a group path or mount root into its elements, cleaned as
// a path relative to the cgroup namespace's root, so that ".." elements
// (groups and mounts outside the namespace) stay, at the front: "/" has
// none, "/../../init.scope" is ["..", "..", "init.scope"].
func elems(p string) []string {
	c := path.Clean(strings.TrimLeft(p, "/"))
	if c == "." {
		return nil
	}
	return strings.Split(c, "/")
}

// under reports whether the group with elements pe lies in the subtree of
// a mount whose root has elements re: re is a prefix of pe, ".." elements
// included, and what is left of pe does not climb out of re. This is the
// Go runtime's rule (internal/runtime/cgroup): after `nsenter -C` a group
// "/../../../../init.scope" lies in a mount of root "/../../../..", as its
// child init.scope; a group "/../x" lies in no mount of root "/", and no
// group in the namespace ("/") lies in a mount of root "/../.." (the
// host's hierarchy bind-mounted into a private namespace): its path below
// that root is unknown.
func under(pe, re []string) bool {
	if len(re) > len(pe) || !slices.Equal(pe[:len(re)], re) {
		return false
	}
	return len(pe) == len(re) || pe[len(re)] != ".."
}
