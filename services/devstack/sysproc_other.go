//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// Elsewhere (Windows) devstack has no process groups and no graceful stop
// signal: it runs the children as plain processes and kills them.

func isolate(*exec.Cmd) {}

type spawner struct{}

func newSpawner() *spawner { return &spawner{} }

func (*spawner) start(cmd *exec.Cmd) error { return cmd.Start() }

func (*spawner) close() {}

func terminate(p *os.Process) error { return p.Kill() }

func kill(p *os.Process) error { return p.Kill() }

func terminatedBySignal(*exec.ExitError) bool { return false }
