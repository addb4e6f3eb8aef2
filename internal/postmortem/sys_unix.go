//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package postmortem

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openNoFollow opens path, failing if it is a symbolic link.
func openNoFollow(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
}

// isSymlinkErr reports whether err is O_NOFOLLOW meeting a symbolic link.
func isSymlinkErr(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

// lockFile takes an exclusive flock on f without waiting; errLocked means
// another open file holds it. The lock lives as long as f or the runtime's
// duplicate of it is open. On a file system without flock the file is used
// unlocked, as on Windows: losing the crash output would be worse.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return errLocked
	case errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EINVAL):
		return nil
	}
	return err
}

// linkCount is the number of hard links to the file fi describes.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// checkOwner refuses a file owned by another user: a crash report must not
// go where someone else can read it.
func checkOwner(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s belongs to uid %d, not to this process (uid %d): left as it is", path, st.Uid, uid)
	}
	return nil
}

// oNonblock keeps an open of a named pipe from waiting for the other end.
const oNonblock = syscall.O_NONBLOCK

// fileID is the inode number of the file fi describes, 0 if unknown.
func fileID(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
