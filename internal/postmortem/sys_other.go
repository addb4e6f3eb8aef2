//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package postmortem

import "os"

// openNoFollow opens path. Without O_NOFOLLOW here, the Lstat check made
// just before is the only guard against a symbolic link.
func openNoFollow(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag, 0o600)
}

func isSymlinkErr(err error) bool { return false }

// lockFile does nothing: on these systems two processes of one program
// given the same crash file share it.
func lockFile(f *os.File) error { return nil }

func checkOwner(path string, fi os.FileInfo) error { return nil }

// linkCount is 1: the number of links is not known here.
func linkCount(fi os.FileInfo) uint64 { return 1 }

// oNonblock is 0: these systems have no O_NONBLOCK for open.
const oNonblock = 0

// fileID is 0: the inode number is not known here.
func fileID(fi os.FileInfo) uint64 { return 0 }
