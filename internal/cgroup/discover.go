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
//     path is resolved through the mount root.
//   - several mounts of one hierarchy (a container's own subtree at
//     /sys/fs/cgroup and the host's whole hierarchy elsewhere for an agent,
//     or one subtree bind-mounted twice): every group from the process's up
//     to the highest one any mount shows is read, and the tightest limit
//     wins; Limit.Mount names the mount it came through. A group is read
//     through the mount whose root is nearest to the process's group, then
//     the others in mountinfo order (at most three): a file that cannot be
//     opened through one (permission denied) is opened through the next.
//   - group paths and mount roots outside the cgroup namespace (".."
//     elements, as after `nsenter -C`): a group lies under a mount when the
//     mount root's elements, ".." included, begin the group path's and the
//     rest does not climb higher, the Go runtime's rule: the group
//     /../../../../init.scope is the child init.scope of a mount of root
//     /../../../.. .
//   - parent cgroups: every group from the process's up to the highest
//     one a mount shows is read and the tightest limit wins. On v1,
//     hierarchical_memory_limit also brings in ancestors above it, which
//     are not visible as directories. The real root group of a v1
//     hierarchy (known by its release_agent file) holds no limit and is not
//     read; when it is visible, so is every ancestor, and memory.stat is
//     read only on every 10th Read and on any Read where a visible
//     memory.limit_in_bytes changed (its value still holds a group's old
//     limit until it is read again). The root of a cgroup namespace (a "/"
//     mount root without release_agent) is read like any group, since it
//     holds the container's limits.
//   - mountinfo octal escapes, any number of optional fields, unrelated
//     mounts, and malformed or untranslatable lines for other controllers:
//     they are passed over, never fatal; Layout.Warnings describes the
//     first 10 and counts the rest.
//   - a controller that no hierarchy of the process has (a v1 host booted
//     with cgroup_disable=memory): no limit of that kind, not an error.
//   - broken or hostile snapshots (a root other than "/"): every file is
//     opened through os.Root, so no path leaves the root (a symbolic link
//     out of it fails, a mount point with ".." is refused); every file,
//     live or not, is opened non-blocking and refused unless it is a
//     regular file (a FIFO, a device); a proc file is read up to 4 MiB; a
//     read of a limit file that fills the reader's 16 KiB buffer is an
//     error, never a value cut at the buffer's end; an error quotes at
//     most 32 bytes of a file, escaped; discovery's cost grows linearly
//     with the lines of /proc/self/cgroup and the mounts.
//
// Not handled:
//   - a group that no mount shows: a path that climbs above every mount
//     root that could hold it (the group /../x under a mount of root "/",
//     a process moved out of its cgroup namespace), or a mount root above
//     the group's branch (root /../.. for a group in the namespace: the
//     host's /sys/fs/cgroup bind-mounted into a container with a private
//     cgroup namespace), where the path from the mount root down to the
//     group is unknown: that controller has an error, rather than the
//     limits of some other group.
//   - a controller bound to a v1 hierarchy that is not mounted is an
//     error, not a fall back to cgroup2; cgroup v1 mounted anywhere other
//     than where mountinfo says is not searched for.
//   - only the first /proc/self/cgroup line for a hierarchy is read (the
//     kernel writes one; more are a warning); a mount point with ".." in
//     it, and group paths, mount points and roots longer than PATH_MAX,
//     are refused (no kernel writes them).
//   - v1 memory.use_hierarchy=0 (accepted by older kernels) is not read: a
//     visible ancestor's limit is counted even where it does not apply.
//   - cpuset and cpu.weight/cpu.shares are not read (GOMAXPROCS takes the
//     affinity mask from the runtime).
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
	if n := countV2(entries); n > 1 {
		w.add(fmt.Errorf("/proc/self/cgroup: %d lines for the v2 hierarchy (0::); the first is used", n))
	}
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
	var n1 int
	for i := range entries {
		e := &entries[i]
		switch {
		case e.ID != "0" && slices.Contains(e.Controllers, controller):
			if n1++; v1 == nil {
				v1 = e
			}
		case isV2(e) && v2 == nil:
			v2 = e
		}
	}
	if n1 > 1 {
		w.add(fmt.Errorf("/proc/self/cgroup: %d lines bind %s to a v1 hierarchy; the first (hierarchy %s) is used", n1, controller, quote(v1.ID, maxLineQuote)))
	}
	if v1 != nil {
		// The controller is bound to a v1 hierarchy, so the v2 hierarchy
		// cannot have it: falling back would read a group with no limit
		// files and report "no limit" for a limit we could not see.
		h, err := place(root, v1.Path, controller+" (cgroup v1)", mounts, func(m *Mount) bool {
			return !m.V2 && slices.Contains(m.Controllers, controller)
		}, w)
		if err != nil {
			return Hierarchy{Err: fmt.Errorf("%s (cgroup v1): %w", controller, err)}
		}
		h.Version = 1
		return h
	}
	if v2 != nil {
		h, err := place(root, v2.Path, controller+" (cgroup v2)", mounts, func(m *Mount) bool { return m.V2 }, w)
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

// isV2 reports whether e is the line of the v2 hierarchy.
func isV2(e *ProcEntry) bool { return e.ID == "0" && len(e.Controllers) == 0 }

func countV2(entries []ProcEntry) int {
	n := 0
	for i := range entries {
		if isV2(&entries[i]) {
			n++
		}
	}
	return n
}

// place finds every mount of a hierarchy that shows group path p and lists
// the group's directory and its ancestors' through them: each level as far
// up as any mount shows it. One pass over the mounts.
//
// A mount refused by usable is an error when no other mount shows the
// group, else a warning that names what (the controller and version).
func place(root, p, what string, mounts []Mount, match func(*Mount) bool, w *warnings) (Hierarchy, error) {
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
		w.add(fmt.Errorf("%s: %w; another mount is read", what, refused))
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
