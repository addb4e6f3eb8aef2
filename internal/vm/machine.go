package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Machine is one QEMU guest: a kernel and an initramfs, booted under
// software emulation (TCG; -enable-kvm is never used: on the CI machine
// /dev/kvm exists but a KVM guest hangs at boot).
type Machine struct {
	Kernel    string        // the kernel image (vmlinuz)
	Initrd    string        // the initramfs
	CPUs      int           // -smp
	MemoryMiB int           // -m
	Cmdline   []string      // kernel command line words after console=ttyS0 quiet panic=-1
	Timeout   time.Duration // the guest must power off within it, or QEMU is killed
}

// Boot is what a boot gave.
type Boot struct {
	Console []byte        // everything the guest wrote on its serial console
	Wall    time.Duration // from QEMU's start to its exit
	// ToDone is the wall time from QEMU's start to the DONE marker line;
	// 0 when none came.
	ToDone time.Duration
}

// Args are QEMU's arguments for m.
func (m Machine) Args() []string {
	return []string{
		"-accel", "tcg", "-cpu", "max",
		"-m", strconv.Itoa(m.MemoryMiB), "-smp", strconv.Itoa(m.CPUs),
		"-kernel", m.Kernel, "-initrd", m.Initrd,
		"-append", strings.Join(append([]string{"console=ttyS0", "quiet", "panic=-1"}, m.Cmdline...), " "),
		"-nographic", "-no-reboot", "-nic", "none",
	}
}

// Run boots m and waits for the guest to power off (a kernel panic
// reboots, which -no-reboot turns into an exit too), copying the console
// to log as it comes. QEMU is killed when m.Timeout passes or ctx ends;
// that is an error, returned with the console so far. Run leaves no
// process behind.
func (m Machine) Run(ctx context.Context, log io.Writer) (Boot, error) {
	if m.Timeout <= 0 || m.CPUs <= 0 || m.MemoryMiB <= 0 {
		return Boot{}, fmt.Errorf("machine: timeout %v, %d CPUs, %d MiB: each must be positive", m.Timeout, m.CPUs, m.MemoryMiB)
	}
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", m.Args()...)
	cmd.WaitDelay = 5 * time.Second // the pipe, once QEMU is killed
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Boot{}, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Boot{}, fmt.Errorf("starting qemu-system-x86_64: %w", err)
	}
	var b Boot
	var console bytes.Buffer
	r := bufio.NewReader(out)
	for {
		line, rerr := r.ReadBytes('\n')
		console.Write(line)
		log.Write(line)
		if b.ToDone == 0 && bytes.HasPrefix(line, []byte(markDone+" ")) {
			b.ToDone = time.Since(start)
		}
		if rerr != nil {
			break
		}
	}
	werr := cmd.Wait()
	b.Console, b.Wall = console.Bytes(), time.Since(start)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return b, fmt.Errorf("the guest did not power off within %v: qemu killed", m.Timeout)
	case ctx.Err() != nil:
		return b, fmt.Errorf("qemu killed: %w", ctx.Err())
	case werr != nil:
		return b, fmt.Errorf("qemu-system-x86_64: %w; stderr: %s", werr, bytes.TrimSpace(stderr.Bytes()))
	}
	return b, nil
}
