//go:build !linux

package bench

import "syscall"

// childAttr puts a child in its own process group (see proc_linux.go; only
// Linux can have the kernel kill children whose parent died).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
