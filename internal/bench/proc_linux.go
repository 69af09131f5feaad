//go:build linux

package bench

import "syscall"

// childAttr puts a child in its own process group, so that a Ctrl-C at the
// terminal reaches only the harness (which then stops the children in
// order), and has the kernel kill the child if the harness dies first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
