//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// terminate asks p's process group to stop.
func terminate(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// kill stops p's process group at once.
func kill(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

// signalGroup signals the whole group the child leads (see isolate), so
// nothing the child started outlives it. A group that is already gone is
// not an error.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// terminatedBySignal reports whether the process was ended by SIGTERM
// without handling it, which is a clean stop too.
func terminatedBySignal(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}
