//go:build unix && !linux

package main

import (
	"os/exec"
	"syscall"
)

// isolate puts the child in a process group of its own, so the terminal's
// Ctrl-C reaches devstack alone and devstack decides the order in which the
// children stop. Outside Linux there is no parent death signal: if devstack
// is killed with SIGKILL, stop the children by hand (their pids are in the
// logs' first lines).
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// spawner starts processes; only Linux needs a dedicated thread for it (see
// sysproc_linux.go).
type spawner struct{}

func newSpawner() *spawner { return &spawner{} }

func (*spawner) start(cmd *exec.Cmd) error { return cmd.Start() }

func (*spawner) close() {}
