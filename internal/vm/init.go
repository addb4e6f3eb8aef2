package vm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// GuestEnv is the variable on the kernel command line that tells the
// guest's init which cgroup layout to mount ("v1" or "v2"). The kernel
// hands it to init, and init to every program it runs: tests read it
// (cgrouptest.Guest) to know which cases the guest must provide.
const GuestEnv = "GOTUNE_TEST_GUEST"

// Step is one program the guest's init runs, in the root cgroup, with its
// output on the console, then reports with a RESULT line.
type Step struct {
	Name string   // one word: it appears in the marker lines
	Dir  string   // working directory in the guest
	Env  []string // KEY=value pairs added to init's environment
	Args []string // the program (a path in the guest) and its arguments
}

// Init returns the guest's /init, a busybox shell script. It mounts proc,
// sysfs and devtmpfs, brings up the loopback interface, mounts the cgroup
// layout that GOTUNE_TEST_GUEST names, prints BOOTED, runs that guest's
// steps from the root cgroup (exempt from cgroup v2's no-internal-processes
// rule), prints DONE and powers off:
//
//	v2  cgroup2 at /sys/fs/cgroup, with every controller
//	v1  a tmpfs at /sys/fs/cgroup with the memory and cpu,cpuacct
//	    hierarchies at memory and cpu,cpuacct, and no cgroup2 mount at all
//	    (a pure v1 machine; a hybrid one is the CI host itself)
//
// Kernel messages below KERN_ALERT are kept off the console, so that they
// cannot break into a marker line.
func Init(steps map[string][]Step) ([]byte, error) {
	var b strings.Builder
	b.WriteString(initHead)
	b.WriteString("case \"$" + GuestEnv + "\" in\n")
	for _, guest := range slices.Sorted(maps.Keys(steps)) {
		mount, ok := cgroupMounts[guest]
		if !ok {
			return nil, fmt.Errorf("guest %q: want v1 or v2", guest)
		}
		fmt.Fprintf(&b, "%s)\n%s\techo \"%s $(up)\"\n", guest, mount, markBooted)
		for _, s := range steps[guest] {
			if s.Name == "" || strings.ContainsAny(s.Name, " \t\n'\"\\$`") || len(s.Args) == 0 {
				return nil, fmt.Errorf("guest %s: step %q: want a one-word name and a program", guest, s.Name)
			}
			b.WriteString("\t" + stepLine(s) + "\n")
		}
		fmt.Fprintf(&b, "\techo \"%s %d $(up)\"\n\t;;\n", markDone, len(steps[guest]))
	}
	fmt.Fprintf(&b, "*)\n\tgiveup \"%s=$%s: no such guest\"\n\t;;\nesac\npoweroff -f\n", GuestEnv, GuestEnv)
	return []byte(b.String()), nil
}

// stepLine is the init's line that runs s.
func stepLine(s Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %s %s env", s.Name, shellQuote(s.Dir))
	for _, a := range append(slices.Clone(s.Env), s.Args...) {
		b.WriteString(" " + shellQuote(a))
	}
	return b.String()
}

const initHead = `#!/bin/busybox sh
# The VM lane's init (internal/vm): mounts, runs the steps, powers off.
# A new line first: the firmware leaves terminal escapes without one.
echo
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root TMPDIR=/tmp
mkdir -p /proc /sys /dev /tmp /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk
ip link set lo up
` + initFuncs

// initFuncs are the init's shell functions: up prints the uptime, giveup
// reports an error and powers off, step runs a program and reports it.
const initFuncs = `up() { cut -d' ' -f1 /proc/uptime; }
giveup() { echo "` + markError + ` $*"; poweroff -f; }
step() {
	name=$1 dir=$2
	shift 2
	echo "` + markBegin + ` $name $(up)"
	(cd "$dir" && exec "$@")
	code=$?
	status=fail
	[ "$code" = 0 ] && status=pass
	echo "` + markResult + ` $name $status $code $(up)"
}
`

var cgroupMounts = map[string]string{
	"v2": "\tmount -t cgroup2 cgroup2 /sys/fs/cgroup || giveup mounting cgroup2\n",
	"v1": "\tmount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup || giveup mounting a tmpfs at /sys/fs/cgroup\n" +
		"\tmkdir /sys/fs/cgroup/memory /sys/fs/cgroup/cpu,cpuacct\n" +
		"\tmount -t cgroup -o memory cgroup /sys/fs/cgroup/memory || giveup mounting the v1 memory hierarchy\n" +
		"\tmount -t cgroup -o cpu,cpuacct cgroup /sys/fs/cgroup/cpu,cpuacct || giveup mounting the v1 cpu,cpuacct hierarchy\n",
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
