// Command vidstream-cluster is what the real cluster of hack/cluster-up.sh
// needs that no Debian package or upstream module provides without an image
// registry on the internet:
//
//	vidstream-cluster registry -dir DIR -addr-file FILE
//	    an OCI distribution registry on 127.0.0.1 (a free port, written to
//	    FILE), blobs kept in DIR; containerd pulls the cluster's images from
//	    it and skaffold pushes to it, as a kind cluster with a local
//	    registry works
//	vidstream-cluster image -o REF -layer TAR... [-entrypoint ARG]... ...
//	    an image assembled from uncompressed layer tarballs and a config,
//	    pushed to REF (plain HTTP for 127.0.0.1 and localhost registries);
//	    prints REF@digest
//
// Both use go-containerregistry (github.com/google/go-containerregistry):
// its registry package is a complete, small registry implementation, and
// its image model writes exactly the manifests containerd expects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vidstream-cluster:", err)
		os.Exit(1)
	}
}

const usage = `Usage: vidstream-cluster registry|image [flags]  (-h after a command lists its flags)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "registry":
		return runRegistry(ctx, args[1:], stderr)
	case "image":
		return runImage(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
