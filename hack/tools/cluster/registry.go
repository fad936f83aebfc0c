package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// runRegistry serves an OCI distribution registry until ctx ends. Blobs
// live on disk (so a second push of an unchanged layer is a HEAD request);
// manifests live in memory, so a restarted registry is empty until the
// images are pushed again, which hack/cluster-images.sh does on every run.
func runRegistry(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (port 0: a free one)")
	dir := fs.String("dir", "", "directory for the blobs (required)")
	addrFile := fs.String("addr-file", "", "write the address listened on to this file once serving")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("registry: -dir is required")
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	logger := log.New(io.Discard, "", 0)
	if *verbose {
		logger = log.New(stderr, "registry: ", log.LstdFlags)
	}
	srv := &http.Server{
		Handler: registry.New(
			registry.WithBlobHandler(registry.NewDiskBlobHandler(*dir)),
			registry.Logger(logger),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if *addrFile != "" {
		// Written atomically: a script polls for the file.
		tmp := filepath.Join(filepath.Dir(*addrFile), "."+filepath.Base(*addrFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
	}
	fmt.Fprintf(stderr, "registry: serving on %s, blobs in %s\n", ln.Addr(), *dir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("registry: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("registry: shutdown: %w", err)
	}
	return nil
}
