// Command pause is the sandbox ("infra") container of every pod in the
// cluster of hack/cluster-up.sh: it holds the pod's namespaces open, reaps
// the zombies of a pod that shares its process namespace, and exits on
// SIGINT or SIGTERM. The upstream image, registry.k8s.io/pause, does the same
// in C; there is no image registry to pull it from here, so it is built from
// this file (static, no cgo) into an image of its own.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child (signals coalesce: one SIGCHLD may
// stand for several).
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
