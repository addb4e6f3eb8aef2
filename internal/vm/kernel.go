package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kernel returns the path of the kernel image (vmlinuz) of Debian's
// current amd64 kernel package (the one linux-image-amd64 depends on, as
// apt's package lists say), cached in dir under the package's name and
// version. On a miss it fetches the package with `apt-get download` and
// takes only boot/vmlinuz-* out of it: Debian's kernel has cgroup v1 and
// v2, the memory and cpu controllers, CFS bandwidth and PSI built in, so
// no module is needed.
func Kernel(ctx context.Context, dir string) (string, error) {
	deps, err := command(ctx, "", "apt-cache", "depends", "linux-image-amd64")
	if err != nil {
		return "", err
	}
	var pkg string
	for _, l := range strings.Split(deps, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image package (run apt-get update):\n%s", deps)
	}
	show, err := command(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", err
	}
	var version string
	for _, l := range strings.Split(show, "\n") {
		if v, ok := strings.CutPrefix(l, "Version: "); ok {
			version = strings.TrimSpace(v)
			break
		}
	}
	if version == "" || strings.ContainsAny(version, "/ ") {
		return "", fmt.Errorf("apt-cache show %s: no usable Version line", pkg)
	}
	cached := filepath.Join(dir, pkg+"_"+version, "vmlinuz")
	if fi, err := os.Stat(cached); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return cached, nil
	}
	tmp, err := os.MkdirTemp(dir, "fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := command(ctx, tmp, "apt-get", "download", "-q", pkg); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: want one .deb in %s, found %q", pkg, tmp, debs)
	}
	img := filepath.Join(tmp, "vmlinuz")
	if err := extractVmlinuz(ctx, debs[0], img); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return "", err
	}
	return cached, os.Rename(img, cached)
}

// extractVmlinuz copies ./boot/vmlinuz-* out of the .deb's file system
// tarball (dpkg-deb --fsys-tarfile) to out.
func extractVmlinuz(ctx context.Context, deb, out string) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	found, copyErr := false, error(nil)
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				copyErr = fmt.Errorf("reading %s: %w", deb, err)
			}
			break
		}
		if m, _ := filepath.Match("./boot/vmlinuz-*", h.Name); !m || h.Typeflag != tar.TypeReg {
			continue
		}
		found, copyErr = true, writeFile(out, tr)
		break
	}
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if copyErr == nil && !found {
		copyErr = fmt.Errorf("%s holds no ./boot/vmlinuz-*", deb)
	}
	return copyErr
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Tools checks that the programs a boot needs are here: QEMU's x86_64
// system emulator, and a static busybox (Debian's busybox-static) to be the
// guest's shell and tools. It returns busybox's path, or an error naming
// what is missing and the Debian package that has it.
func Tools() (busybox string, err error) {
	var errs []error
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		errs = append(errs, fmt.Errorf("qemu-system-x86_64 not found (Debian package qemu-system-x86): %w", err))
	}
	busybox, err = exec.LookPath("busybox")
	if err != nil {
		errs = append(errs, fmt.Errorf("busybox not found (Debian package busybox-static): %w", err))
	} else if err := static(busybox); err != nil {
		errs = append(errs, fmt.Errorf("%w (install Debian's busybox-static)", err))
	}
	return busybox, errors.Join(errs...)
}

// static fails unless path is an ELF program with no interpreter: one that
// runs in a guest with no shared libraries.
func static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// command runs name with args in dir and returns its output, or an error
// with its output.
func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, Tail(out.Bytes(), 20))
	}
	return out.String(), nil
}
