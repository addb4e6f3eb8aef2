package cgrouptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// PrebuiltEnv names the directory of programs built ahead of time, for
// where no Go toolchain exists (the VM lane's guest): with it set, Build
// takes a program from there instead of building it.
const PrebuiltEnv = "GOTUNE_TEST_PREBUILT"

var (
	builds   sync.Map // package path → *buildResult
	buildDir struct {
		once sync.Once
		path string
		err  error
	}
)

type buildResult struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Build returns the path of the program built from the main package pkg, a
// path as `go build` takes it from the test's directory ("." or
// "./cmd/tune"). It builds each package once per test binary, into a
// temporary directory that RemoveBuilds removes. With GOTUNE_TEST_PREBUILT
// set to a directory, it builds nothing and returns that directory's file
// named after the package's directory ("tune" for ./cmd/tune), failing the
// test if there is none.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	if dir := os.Getenv(PrebuiltEnv); dir != "" {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(abs))
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			tb.Fatalf("%s=%s: no program %s for package %s (stat: %v)", PrebuiltEnv, dir, filepath.Base(p), pkg, err)
		}
		return p
	}
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		buildDir.once.Do(func() { buildDir.path, buildDir.err = os.MkdirTemp("", "tune-test-bin-") })
		if buildDir.err != nil {
			b.err = buildDir.err
			return
		}
		abs, err := filepath.Abs(pkg)
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(buildDir.path, filepath.Base(abs))
		b.out, b.err = exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
	})
	if b.err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.path
}

// RemoveBuilds removes what Build built; TestMain calls it after the
// tests have run.
func RemoveBuilds() {
	if buildDir.path != "" {
		os.RemoveAll(buildDir.path)
	}
}
