package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopTakesTheWholeProcessGroup: a child's own children stop with it,
// since devstack signals the group the child leads.
func TestStopTakesTheWholeProcessGroup(t *testing.T) {
	p := startHelper(t, "spawn-grandchild")
	line := waitForLine(t, p, "grandchild ")
	grandchild, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild "))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitGone(t, grandchild)
}

// TestChildrenStopWhenDevstackIsKilled: SIGKILL gives devstack no chance to
// stop anything, yet its child gets SIGTERM from the kernel (the parent
// death signal) and stops gracefully.
func TestChildrenStopWhenDevstackIsKilled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "terminated")
	parent := startHelper(t, "parent", "DEVSTACK_TEST_MARKER="+marker, "DEVSTACK_TEST_LOGS="+t.TempDir())
	line := waitForLine(t, parent, "childpid ")
	child, err := strconv.Atoi(strings.TrimPrefix(line, "childpid "))
	// Killed before its SIGTERM handler is installed, the child would
	// just die: wait until it says it is ready.
	waitForMatch(t, parent, "│ ready", strings.HasSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(parent.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, child)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "terminated" {
		t.Fatalf("the child did not stop on SIGTERM (marker: %q, %v)", b, err)
	}
}

// waitGone polls until pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond) // waiting for another process to exit, which has no other signal
	}
}
