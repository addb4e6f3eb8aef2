package postmortem

// Opening and creating tune's files safely: a symbolic link is never
// followed, a named pipe never waited on, a file another process swapped
// in while it was being opened is noticed, and a new file appears only
// whole (written under a temporary name, then linked into place).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// openExisting opens the crash file of tune's at path and locks it. It
// returns an error wrapping os.ErrNotExist when there is nothing at path,
// errLocked when another process holds it, and an error naming path for
// anything that is not tune's crash file (nothing is changed then). With
// owner set, a header naming another executable is refused too. It
// returns what the header says.
func openExisting(path, owner string) (*os.File, headerInfo, error) {
	f, fi, err := openChecked(path, os.O_RDWR, checkExisting)
	if err != nil {
		return nil, headerInfo{}, err
	}
	h, err := lockHeader(f, fi, path, owner)
	if err != nil {
		f.Close()
		return nil, headerInfo{}, err
	}
	return f, h, nil
}

// openChecked opens path with flag, after check has passed what Lstat
// says of it, and again what the open file says (the same file, as check
// allows): a symbolic link is never followed, a named pipe never waited
// on.
func openChecked(path string, flag int, check func(string, os.FileInfo) error) (*os.File, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := openNoFollow(path, flag|oNonblock)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, nil, fmt.Errorf("%s is a symbolic link: not following it", path)
		}
		return nil, nil, err
	}
	ffi, err := f.Stat()
	if err == nil {
		err = check(path, ffi)
	}
	if err == nil && !os.SameFile(fi, ffi) {
		err = fmt.Errorf("%s: replaced while being opened: %w", path, errLocked)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, ffi, nil
}

// lockHeader locks f, the file at path that fi describes, and reads its
// header, which must be tune's (and name owner, when set).
func lockHeader(f *os.File, ffi os.FileInfo, path, owner string) (headerInfo, error) {
	// The lock comes before the header is read: a file another process is
	// writing its header into is locked by it.
	if err := lockFile(f); err != nil {
		if errors.Is(err, errLocked) {
			return headerInfo{}, fmt.Errorf("%s: %w", path, errLocked)
		}
		return headerInfo{}, fmt.Errorf("lock %s: %w", path, err)
	}
	// Another process may have rotated or removed the file between the
	// open and the lock: then the lock is on a file nobody reads.
	if cur, err := os.Lstat(path); err != nil || !os.SameFile(ffi, cur) {
		return headerInfo{}, fmt.Errorf("%s: replaced while being opened: %w", path, errLocked)
	}
	h, err := readHeader(f, path)
	if err != nil {
		return headerInfo{}, err
	}
	if owner != "" && h.exe != owner {
		return headerInfo{}, fmt.Errorf("%s is the crash file of another program (%s): left as it is", path, h.exe)
	}
	if ffi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			return headerInfo{}, err // "chmod <path>: …"
		}
	}
	return h, nil
}

// checkExisting refuses what must not be used as a crash file, from what
// Lstat or Stat says of it.
func checkExisting(path string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: not following it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): left as it is", path, fileType(fi.Mode()))
	}
	if n := linkCount(fi); n != 1 {
		return fmt.Errorf("%s has %d hard links (a crash file tune wrote has one): left as it is", path, n)
	}
	return checkOwner(path, fi)
}

// fileType names the type of a file that is not a regular one.
func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return "irregular file"
}

// readHeader reads the first line of f, which must be tune's header, and
// returns what it says. Nothing of the file's content goes into the
// error: it may be anything (a configuration with a password).
func readHeader(f *os.File, path string) (headerInfo, error) {
	buf := make([]byte, maxHeader)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return headerInfo{}, err // "read <path>: …"
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	if !bytes.HasPrefix(line, []byte(headerPrefix)) {
		return headerInfo{}, fmt.Errorf("%s does not start with tune's header line, so tune did not write it: left as it is", path)
	}
	return parseHeader(string(line)), nil
}

// isCrashFile reports whether path holds a crash file of tune's (any
// executable's) that is not in use: only such a file may be replaced or
// removed by rotation and sweeping.
func isCrashFile(path string) bool {
	f, _, err := openExisting(path, "")
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// createCrashFile makes a new crash file at path holding hdr, locked. The
// file is written under a temporary name and then linked into place, so
// that nobody sees it without its header. It fails with os.ErrExist when
// something is at path already. tune creates the file, never its
// directories.
func createCrashFile(path, hdr string) (*os.File, error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, base+".new*") // 0600, O_EXCL
	if err != nil {
		return nil, createErr(path, err, "crash file", crashFix)
	}
	tmp := f.Name()
	fail := func(err error) (*os.File, error) {
		os.Remove(tmp)
		f.Close()
		return nil, err
	}
	if err := lockFile(f); err != nil {
		return fail(fmt.Errorf("lock %s: %w", tmp, err))
	}
	if _, err := f.WriteString(hdr); err != nil {
		return fail(err) // "write <tmp>: …"
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fail(err)
		}
		// A file system without hard links: rename, after one more look.
		if _, err := os.Lstat(path); err == nil {
			return fail(fmt.Errorf("%s: %w", path, os.ErrExist))
		}
		if err := os.Rename(tmp, path); err != nil {
			return fail(err) // "rename <tmp> <path>: …"
		}
	} else {
		os.Remove(tmp)
	}
	return f, nil
}

// createErr says why the file at path (a crash file, last words: what)
// could not be created, and what to do (fix), for the errors a setting
// can fix.
func createErr(path string, err error, what, fix string) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, e := os.Lstat(dir); errors.Is(e, os.ErrNotExist) {
			return fmt.Errorf("cannot create %s: directory %s does not exist (tune creates the %s, never its directories)", path, dir, what)
		}
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("cannot create %s: %s is on a read-only file system; %s", path, dir, fix)
	case errors.Is(err, os.ErrPermission):
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once
		}
		return fmt.Errorf("cannot create %s: %w; %s", path, err, fix)
	}
	return fmt.Errorf("cannot create %s: %w", path, err)
}

// crashFix is what to do when the crash file cannot be created.
const crashFix = "set GOTUNE_CRASH_FILE to a writable path, or GOTUNE_CRASH_FILE=off to go without a crash file"

// rewrite empties f (a crash file of tune's, locked) and writes hdr.
func rewrite(f *os.File, hdr string) error {
	if err := f.Truncate(0); err != nil {
		return err // "truncate <path>: …"
	}
	if _, err := f.WriteAt([]byte(hdr), 0); err != nil {
		return err // "write <path>: …"
	}
	_, err := f.Seek(int64(len(hdr)), io.SeekStart)
	return err
}

// retire closes a crash file that is no longer the crash output, removing
// it when it holds only its header (nothing to keep).
func retire(f *os.File, path string, header int64) {
	if fi, err := f.Stat(); err == nil && fi.Size() == header {
		if cur, err := os.Lstat(path); err == nil && os.SameFile(fi, cur) {
			os.Remove(path)
		}
	}
	f.Close()
}
