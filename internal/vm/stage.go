package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The guest has no shared libraries and no Go toolchain: what it runs is
// built here, static, for linux/amd64, and without a symbol table (smaller
// to pack; tracebacks still work).
const stripped = "-ldflags=-s -w"

// goBuild runs the go command with args in the module directory modDir,
// for the guest.
func goBuild(ctx context.Context, modDir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), modDir, err, out)
	}
	return nil
}

// BuildPrograms builds the main packages pkgs of the module at modDir
// (paths as `go build` takes them there) for the guest, into dir: each
// program is named after its package's directory, as cgrouptest.Build
// looks for it under GOTUNE_TEST_PREBUILT.
func BuildPrograms(ctx context.Context, modDir, dir string, pkgs ...string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return goBuild(ctx, modDir, append([]string{"build", stripped, "-o", abs + "/"}, pkgs...)...)
}

// BuildTest builds the test binary of the package pkg of the module at
// modDir for the guest, at out.
func BuildTest(ctx context.Context, modDir, out, pkg string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	return goBuild(ctx, modDir, "test", "-c", stripped, "-o", abs, pkg)
}

// Pack completes the staged tree (busybox as /bin/busybox, the init that
// runs steps, Init) and packs it into the initramfs out (Initramfs).
func Pack(ctx context.Context, busybox, tree string, steps map[string][]Step, out string) error {
	if err := CopyFile(busybox, filepath.Join(tree, "bin/busybox"), 0o755); err != nil {
		return err
	}
	init, err := Init(steps)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tree, "init"), init, 0o755); err != nil {
		return err
	}
	return Initramfs(ctx, busybox, tree, out)
}

// TestStep is the step name that runs the test binary bin (a path in the
// guest) in dir with env: verbose (its verdict lines are what
// Result.CheckTests reads), once, within timeout, and only the top-level
// tests named.
func TestStep(name, dir, bin string, env []string, timeout time.Duration, tests []string) Step {
	return Step{Name: name, Dir: dir, Env: env,
		Args: []string{bin, "-test.v", "-test.count=1", "-test.timeout=" + timeout.String(),
			"-test.run=^(" + strings.Join(tests, "|") + ")$"}}
}
