// Package vm boots Linux guests under QEMU's software emulation to run the
// project's programs on real kernels that this machine is not: cgroup v2,
// pure cgroup v1, more CPUs. It is the VM lane of .ci/vm, in pieces that
// other guest workloads (bench) reuse:
//
//	Tools          checks for qemu-system-x86_64 and a static busybox
//	Kernel         Debian's current amd64 kernel image, fetched with apt and cached
//	BuildPrograms  builds a module's programs static for the guest
//	BuildTest      builds a package's test binary static for the guest
//	TestStep       the step that runs such a test binary verbosely
//	Init           the guest's /init: mounts a cgroup layout, runs steps, powers off
//	Initramfs      packs a staged tree with busybox's cpio (Pack: busybox, init, pack)
//	Machine        boots it with a hard timeout and keeps the console
//	Parse          reads the guest's results off the console, strictly
//	Run.Report     writes each step's verdicts and checks them
//	ShowConsole    the end of a failed guest's console, and where all of it is
//
// The guest reports through marker lines on its serial console (BOOTED,
// BEGIN and RESULT per step, DONE); a missing or malformed one is an error,
// never a skip.
package vm
