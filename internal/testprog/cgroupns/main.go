//go:build linux

// Command cgroupns is a test program: it runs a program as a container
// runtime does, in a new cgroup namespace rooted at its own groups and a
// new mount namespace in which every cgroup hierarchy is mounted afresh
// over its old mount point. The program then sees its groups as "/" in
// /proc/self/cgroup, and every cgroup mount's root is "/".
//
//	cgroupns program [arg...]
//
// It runs as root, already inside the groups that are to be the
// namespace's root. It changes nothing outside its own mount namespace: the
// mounts are made private before any is touched.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cgroupns program [arg...]")
		os.Exit(2)
	}
	err := run(os.Args[1:])
	fmt.Fprintln(os.Stderr, "cgroupns:", err)
	os.Exit(1)
}

// mount is one cgroup mount to make again.
type mount struct {
	fstype, point, data string
	flags               uintptr
}

// run returns only on failure: on success it has exec'd args.
func run(args []string) error {
	// Namespaces are the calling thread's: unshare, mount and exec on one.
	runtime.LockOSThread()
	path, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	mounts, err := cgroupMounts(string(mi))
	if err != nil {
		return err
	}
	if err := syscall.Unshare(syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWCGROUP|CLONE_NEWNS): %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i].point, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %w", mounts[i].point, err)
		}
	}
	for _, m := range mounts {
		if err := syscall.Mount(m.fstype, m.point, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s at %s with %q: %w", m.fstype, m.point, m.data, err)
		}
	}
	return syscall.Exec(path, args, os.Environ())
}

// cgroupMounts lists the cgroup and cgroup2 mounts in mountinfo, in its
// order, with the options to mount each again.
func cgroupMounts(mountinfo string) ([]mount, error) {
	var out []mount
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 6 || len(after) < 3 || (after[0] != "cgroup" && after[0] != "cgroup2") {
			continue
		}
		if strings.Contains(fields[4], `\`) {
			// mountinfo escapes (\040 for a space): no test mounts one.
			return nil, fmt.Errorf("mountinfo line %q: a mount point with escapes is not handled", line)
		}
		m := mount{fstype: after[0], point: fields[4]}
		for _, o := range strings.Split(fields[5], ",") {
			m.flags |= map[string]uintptr{"ro": syscall.MS_RDONLY, "nosuid": syscall.MS_NOSUID,
				"nodev": syscall.MS_NODEV, "noexec": syscall.MS_NOEXEC, "relatime": syscall.MS_RELATIME}[o]
		}
		var data []string
		for _, o := range strings.Split(after[2], ",") {
			if o != "rw" && o != "ro" {
				data = append(data, o)
			}
		}
		m.data = strings.Join(data, ",")
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup file system is mounted")
	}
	return out, nil
}
