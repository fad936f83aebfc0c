package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// services are the binaries devstack builds and runs, in start order.
var services = []service{
	{name: "user", pkg: "./services/user", httpPort: 8081, grpcPort: 9081},
	{name: "video", pkg: "./services/video", httpPort: 8082, grpcPort: 9082},
	{name: "watch-history", pkg: "./services/watch-history", httpPort: 8083, grpcPort: 9083},
	{name: "transcoder", pkg: "./services/transcoder", httpPort: 8084, jobQueue: true},
}

type service struct {
	name     string
	pkg      string
	httpPort int
	// grpcPort is zero for a service that serves no gRPC.
	grpcPort int
	// jobQueue: the service works the job queue off, and runs only when
	// there is one.
	jobQueue bool
}

// jaegerModule is the tools module whose `tool` line pins Jaeger, kept out
// of the application's go.mod (docs/architecture.md#running-locally).
const jaegerModule = "hack/tools/jaeger"

// jaegerPackage is Jaeger v2's main package.
const jaegerPackage = "github.com/jaegertracing/jaeger/cmd/jaeger"

// jaegerChoice is the Jaeger binary a run uses, and why.
type jaegerChoice struct {
	path string
	// origin says where it came from, for the summary table.
	origin string
	// built is true for the binary built from jaegerModule, whose UI is a
	// placeholder page.
	built bool
}

// chooseJaeger picks the Jaeger to run: the one named by -jaeger-bin or
// JAEGER_BIN, else a `jaeger` on PATH, else the pinned release archive
// (downloaded once, verified against its pinned checksum, cached; it has
// the real UI), else, when that cannot be had, the one built from the
// tools module. It builds nothing; say tells the user which it runs and why.
func chooseJaeger(ctx context.Context, cfg config, rel jaegerRelease, say func(format string, args ...any)) (jaegerChoice, error) {
	if cfg.jaegerBin != "" {
		p, err := exec.LookPath(cfg.jaegerBin)
		if err != nil {
			return jaegerChoice{}, fmt.Errorf("JAEGER_BIN %q: %w", cfg.jaegerBin, err)
		}
		return jaegerChoice{path: p, origin: "JAEGER_BIN=" + cfg.jaegerBin}, nil
	}
	if p, err := exec.LookPath("jaeger"); err == nil {
		return jaegerChoice{path: p, origin: "`jaeger` on PATH (" + p + ")"}, nil
	}
	origin := "built from " + jaegerModule
	if cfg.jaegerRelease {
		p, err := rel.fetch(ctx, filepath.Join(cfg.root, ".cache", "devstack", "jaeger-release"), runtime.GOOS, runtime.GOARCH)
		if err == nil {
			return jaegerChoice{path: p, origin: "Jaeger " + rel.version + " release archive (checksum verified)"}, nil
		}
		say("no Jaeger %s release binary: %v; building Jaeger from %s instead", rel.version, err, jaegerModule)
		origin += " (the release archive could not be used)"
	}
	return jaegerChoice{
		path:   filepath.Join(cfg.binDir, "jaeger"),
		origin: origin,
		built:  true,
	}, nil
}

// builder runs `go build` for devstack.
type builder struct {
	cfg     config
	console *console
	goBin   string
}

func newBuilder(cfg config, c *console) (*builder, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the go command is needed to build the services: %w", err)
	}
	return &builder{cfg: cfg, console: c, goBin: goBin}, nil
}

// buildAll builds the services and, when it is the one chosen, Jaeger,
// concurrently: both are mostly compilation, but each ends with a long
// single-threaded link that the other can overlap.
func (b *builder) buildAll(ctx context.Context, jaeger jaegerChoice) error {
	if err := os.MkdirAll(b.cfg.binDir, 0o750); err != nil {
		return fmt.Errorf("binary directory: %w", err)
	}
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	wg.Go(func() { errs[0] = b.buildServices(ctx) })
	if jaeger.built {
		wg.Go(func() { errs[1] = b.buildJaeger(ctx, jaeger.path) })
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}

func (b *builder) buildServices(ctx context.Context) error {
	start := time.Now()
	args := []string{"build", "-o", b.cfg.binDir + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, s.pkg)
	}
	if err := b.goCommand(ctx, b.cfg.root, args...); err != nil {
		return fmt.Errorf("build services: %w", err)
	}
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.name
	}
	b.console.printf("built %s in %s", strings.Join(names, ", "), since(start))
	return nil
}

// buildJaeger builds Jaeger from its tools module. The go command's cache
// makes every build after the first a matter of seconds; a stamp would save
// those, at the price of staleness bugs when the module or Go changes.
func (b *builder) buildJaeger(ctx context.Context, out string) error {
	start := time.Now()
	dir := filepath.Join(b.cfg.root, jaegerModule)
	if _, err := os.Stat(out); errors.Is(err, fs.ErrNotExist) {
		b.console.printf("building Jaeger from %s (the first time only: a few minutes)...", jaegerModule)
	}
	if err := b.goCommand(ctx, dir, "build", "-trimpath", "-o", out, jaegerPackage); err != nil {
		return fmt.Errorf("build jaeger in %s: %w", jaegerModule, err)
	}
	b.console.printf("built Jaeger in %s", since(start))
	return nil
}

// goCommand runs the go command in dir, its output on the console under
// "build". The environment is devstack's, so GOTOOLCHAIN, GOFLAGS and the
// module proxy settings apply as in the user's shell.
func (b *builder) goCommand(ctx context.Context, dir string, args ...string) error {
	//nolint:gosec // G204: the go command with arguments built by devstack
	cmd := exec.CommandContext(ctx, b.goBin, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	out := newLineWriter(func(line string) { b.console.logLine("build", line) })
	cmd.Stdout = out
	cmd.Stderr = out
	err := cmd.Run()
	out.flush()
	if err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// since is the time elapsed since t, rounded for people: to the
// millisecond under a second, to a tenth of a second above.
func since(t time.Time) time.Duration {
	d := time.Since(t)
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
