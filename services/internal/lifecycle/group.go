package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// DefaultShutdownTimeout applies when Group.ShutdownTimeout is zero. Each of
// the three bounded phases (drain, workers, hooks) may take this long, so a
// Kubernetes terminationGracePeriodSeconds should exceed three times it plus
// the DrainDelay.
const DefaultShutdownTimeout = 10 * time.Second

// Group runs servers and workers until its context ends or one of them
// fails. Configure it, add components, then call Run once.
type Group struct {
	// Logger receives one line per start, stop and failure; nil discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds each shutdown phase; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainDelay is how long to keep serving after readiness went false,
	// so that load balancers notice before connections are refused. It is
	// zero by default (and in tests); a few seconds suit Kubernetes, whose
	// endpoint updates lag the readiness probe.
	DrainDelay time.Duration

	servers   []server
	workers   []worker
	readiness []Readiness
	hooks     []func(ctx context.Context) error
}

type server struct {
	name  string
	addr  string
	serve func() error
	// drain stops accepting and waits for in-flight work until ctx ends;
	// it reports whether it had to cut requests off.
	drain func(ctx context.Context) (forced bool)
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

// AddHTTP serves srv on ln. The listener is bound by the caller so that
// configuration errors (address in use) surface before Run, and tests can
// use 127.0.0.1:0 and read the port back.
func (g *Group) AddHTTP(name string, srv *http.Server, ln net.Listener) {
	g.servers = append(g.servers, server{
		name: name,
		addr: ln.Addr().String(),
		serve: func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		drain: func(ctx context.Context) bool {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close() // cut off what did not finish; its error adds nothing
				return true
			}
			return false
		},
	})
}

// AddGRPC serves srv on ln.
func (g *Group) AddGRPC(name string, srv *grpc.Server, ln net.Listener) {
	g.servers = append(g.servers, server{
		name: name,
		addr: ln.Addr().String(),
		serve: func() error {
			// ErrServerStopped: shutdown won the race against Serve starting.
			if err := srv.Serve(ln); !errors.Is(err, grpc.ErrServerStopped) {
				return err
			}
			return nil
		},
		drain: func(ctx context.Context) bool {
			// GracefulStop has no deadline of its own and waits for streams
			// that may never end (a health Watch, say); Stop bounds it.
			done := make(chan struct{})
			go func() {
				srv.GracefulStop()
				close(done)
			}()
			select {
			case <-done:
				return false
			case <-ctx.Done():
				srv.Stop()
				<-done
				return true
			}
		},
	})
}

// AddWorker runs fn until Run stops it by canceling fn's context. A worker
// that returns nil before that has simply finished; one that returns an
// error brings the whole Group down, as a crashed server would.
func (g *Group) AddWorker(name string, run func(ctx context.Context) error) {
	g.workers = append(g.workers, worker{name: name, run: run})
}

// AddReadiness registers something to tell when the process starts and
// stops wanting traffic, such as *httpx.Health or GRPCHealth(h).
func (g *Group) AddReadiness(r Readiness) {
	g.readiness = append(g.readiness, r)
}

// OnShutdown registers fn to run after servers and workers have stopped,
// in reverse order of registration, like defer. Register the telemetry
// shutdown first so that it runs last.
// Hooks should wrap their errors with what they were shutting down.
func (g *Group) OnShutdown(fn func(ctx context.Context) error) {
	g.hooks = append(g.hooks, fn)
}

// Run starts everything and blocks until ctx is done or a component fails,
// then shuts down in the order described in the package documentation. It
// returns the failure that stopped the Group, if any, joined with whatever
// went wrong during shutdown; a clean stop on ctx returns nil. Run returns
// only after every goroutine it started has ended, except a worker that
// ignores its canceled context past ShutdownTimeout, which is reported.
func (g *Group) Run(ctx context.Context) error {
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	failed := newFirstError()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	fail := func(err error) {
		failed.set(err)
		stop()
	}

	// Workers are stopped explicitly, after the servers, not when ctx ends.
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()

	var servers sync.WaitGroup
	for _, s := range g.servers {
		log.LogAttrs(ctx, slog.LevelInfo, "serving", slog.String("server", s.name), slog.String("addr", s.addr))
		servers.Go(func() {
			if err := s.serve(); err != nil {
				fail(fmt.Errorf("%s: serve: %w", s.name, err))
			}
		})
	}
	workersDone := make(chan struct{})
	workerErrs := newErrorList()
	var workers sync.WaitGroup
	for _, w := range g.workers {
		workers.Go(func() {
			err := w.run(workerCtx)
			switch {
			case err == nil:
			case workerCtx.Err() == nil:
				fail(fmt.Errorf("%s: %w", w.name, err))
			case !errors.Is(err, context.Canceled):
				workerErrs.add(fmt.Errorf("%s: stop: %w", w.name, err))
			}
		})
	}
	go func() {
		workers.Wait()
		close(workersDone)
	}()
	g.setReady(true)

	<-runCtx.Done()
	if cause := failed.get(); cause != nil {
		log.LogAttrs(ctx, slog.LevelError, "component failed, shutting down", slog.Any("err", cause))
	} else {
		log.LogAttrs(ctx, slog.LevelInfo, "shutting down")
	}
	shutdownErrs := g.shutdown(ctx, log, &servers, stopWorkers, workersDone)
	// Read the failure again: a component can also fail while draining.
	return errors.Join(failed.get(), errors.Join(workerErrs.all()...), shutdownErrs)
}

func (g *Group) shutdown(ctx context.Context, log *slog.Logger, servers *sync.WaitGroup, stopWorkers func(), workersDone <-chan struct{}) error {
	// Shutdown outlives ctx, which is usually what has just ended.
	base := context.WithoutCancel(ctx)
	timeout := g.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	var errs []error

	g.setReady(false)
	if g.DrainDelay > 0 {
		t := time.NewTimer(g.DrainDelay)
		<-t.C
	}

	drainCtx, cancel := context.WithTimeout(base, timeout)
	var drains sync.WaitGroup
	for _, s := range g.servers {
		drains.Go(func() {
			if s.drain(drainCtx) {
				log.LogAttrs(base, slog.LevelWarn, "server did not drain in time; cut off remaining requests",
					slog.String("server", s.name), slog.Duration("timeout", timeout))
			}
		})
	}
	drains.Wait()
	cancel()
	servers.Wait() // every Serve has returned once its server is stopped

	stopWorkers()
	t := time.NewTimer(timeout)
	select {
	case <-workersDone:
		t.Stop()
	case <-t.C:
		errs = append(errs, fmt.Errorf("workers did not stop within %v of cancellation", timeout))
	}

	hookCtx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	for i := len(g.hooks) - 1; i >= 0; i-- {
		if err := g.hooks[i](hookCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		log.LogAttrs(base, slog.LevelInfo, "stopped")
	}
	return errors.Join(errs...)
}

func (g *Group) setReady(ready bool) {
	for _, r := range g.readiness {
		r.SetReady(ready)
	}
}

// firstError keeps the first failure; later ones are usually consequences.
type firstError struct {
	mu  sync.Mutex
	err error
}

func newFirstError() *firstError { return &firstError{} }

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

type errorList struct {
	mu   sync.Mutex
	errs []error
}

func newErrorList() *errorList { return &errorList{} }

func (l *errorList) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorList) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
