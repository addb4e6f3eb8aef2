package vm

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Initramfs packs the tree at dir into out, an uncompressed newc cpio
// archive made by busybox's cpio (the machine has no other), which the
// kernel unpacks as the guest's root file system. It is left uncompressed:
// under emulation, unpacking is faster than decompressing. The tree needs
// an executable /init.
func Initramfs(ctx context.Context, busybox, dir, out string) error {
	if fi, err := os.Stat(filepath.Join(dir, "init")); err != nil || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("initramfs tree %s: no executable init (%v)", dir, err)
	}
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if strings.ContainsAny(rel, "\n") {
			return fmt.Errorf("initramfs tree: file name %q has a newline", rel)
		}
		if rel != "." {
			rel = "./" + filepath.ToSlash(rel)
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, busybox, "cpio", "-o", "-H", "newc")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	err = cmd.Run()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("busybox cpio -o -H newc in %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// CopyFile copies the file src to dst in a tree being staged, making dst's
// directory, with mode perm.
func CopyFile(src, dst string, perm os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, perm)
}
