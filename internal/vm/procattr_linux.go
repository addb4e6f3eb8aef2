package vm

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd's process when the process that
// started it dies, even by SIGKILL: a guest never outlives the lane.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
