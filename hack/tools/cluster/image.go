package main

import (
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// runImage assembles an image FROM scratch out of layer tarballs and pushes
// it. The config carries no timestamps, so the same layers and settings give
// the same digest on every run, and a push of an unchanged image moves no
// bytes.
func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var layers, entrypoint, cmd, env, labels, ports multiFlag
	out := fs.String("o", "", "image reference to push to, e.g. 127.0.0.1:5000/vidstream/user:dev (required)")
	fs.Var(&layers, "layer", "uncompressed layer tarball, lowest first (repeatable, at least one)")
	fs.Var(&entrypoint, "entrypoint", "entrypoint argument (repeatable)")
	fs.Var(&cmd, "cmd", "default argument after the entrypoint (repeatable)")
	fs.Var(&env, "env", "NAME=value (repeatable)")
	fs.Var(&labels, "label", "NAME=value (repeatable)")
	fs.Var(&ports, "port", "exposed port, e.g. 8080/tcp (repeatable)")
	user := fs.String("user", "", "user[:group] the container runs as (numeric, so that runAsNonRoot can be checked)")
	workdir := fs.String("workdir", "", "working directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(layers) == 0 {
		fs.Usage()
		return errors.New("image: -o and at least one -layer are required")
	}
	ref, err := name.ParseReference(*out)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}

	img := empty.Image
	for _, path := range layers {
		l, err := tarball.LayerFromFile(path, tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			return fmt.Errorf("image: layer %s: %w", path, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return fmt.Errorf("image: layer %s: %w", path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Config.Entrypoint = entrypoint
	cf.Config.Cmd = cmd
	cf.Config.Env = env
	cf.Config.User = *user
	cf.Config.WorkingDir = *workdir
	if len(labels) > 0 {
		cf.Config.Labels = map[string]string{}
		for _, kv := range labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("image: -label %q: want NAME=value", kv)
			}
			cf.Config.Labels[k] = v
		}
	}
	if len(ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	// containerd and kubelets expect an OCI or Docker v2 schema 2 manifest;
	// empty.Image gives the Docker one, which every runtime reads.
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("image: push %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	fmt.Fprintf(stdout, "%s@%s\n", ref.Context().Name(), digest)
	return nil
}
