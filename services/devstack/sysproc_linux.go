//go:build linux

package main

import (
	"os/exec"
	"runtime"
	"syscall"
)

// isolate puts the child in a process group of its own and asks the kernel
// to send it SIGTERM when devstack dies.
//
// The process group keeps the terminal's Ctrl-C away from the children, so
// devstack alone decides the order in which they stop, and lets devstack
// signal a child together with anything it may have started. The parent
// death signal covers what no handler in devstack can: a SIGKILL, a crash,
// an OOM kill. SIGTERM rather than SIGKILL so that the services drain and
// the broker persists its state even then; each of them exits on SIGTERM.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// spawner starts processes from one goroutine locked to its OS thread.
//
// Linux delivers the parent death signal when the *thread* that forked the
// child exits, not the process (see prctl(2), PR_SET_PDEATHSIG). The Go
// runtime ends a thread when a goroutine locked to it returns without
// unlocking, so a child forked from an arbitrary goroutine could be
// signalled in the middle of a run. Forking from a thread devstack keeps
// alive for the whole run rules that out (golang/go#27505).
type spawner struct {
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnRequest)}
	go func() {
		runtime.LockOSThread()
		// Unlocking before returning returns the thread to the scheduler
		// instead of ending it, which would signal the children early.
		defer runtime.UnlockOSThread()
		for r := range s.reqs {
			r.done <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.reqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// close ends the spawner once every child it started has exited.
func (s *spawner) close() { close(s.reqs) }
