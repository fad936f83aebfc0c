package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vidstream/vidstream/services/internal/peerauth"
)

// Embedded Jaeger's addresses (docs/architecture.md#ports), all on 127.0.0.1, as
// observability/jaeger-local.yaml binds them.
const (
	jaegerQueryURL   = "http://127.0.0.1:16686"
	jaegerHealthURL  = "http://127.0.0.1:13133/status"
	jaegerOTLPHTTP   = "http://127.0.0.1:4318"
	jaegerOTLPGRPC   = "127.0.0.1:4317"
	jaegerConfigPath = "observability/jaeger-local.yaml"
)

// run is main without process globals: `devstack broker ...` runs the
// embedded broker, anything else the whole stack.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	name, rest := "devstack", []string(nil)
	if len(args) > 0 {
		name, rest = filepath.Base(args[0]), args[1:]
	}
	if len(rest) > 0 && rest[0] == "broker" {
		return runBroker(ctx, rest[1:], stdout)
	}
	if len(rest) > 0 && rest[0] == "redis" {
		return runRedis(ctx, rest[1:], stdout)
	}
	cfg, err := parseConfig(name, rest, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	s := &stack{cfg: cfg, getenv: getenv, console: newConsole(stdout, cfg.color, cfg.rawLogs)}
	return s.run(ctx)
}

// stack is one run of the whole system.
type stack struct {
	cfg     config
	getenv  func(string) string
	console *console

	// serviceKeys are each service's private key, peers every service's
	// public key: east-west authentication with keys that live as long as
	// the run, so `make run` needs no key set up.
	serviceKeys map[string]string
	peers       string
	// queue is the transcode job queue of this run, if any.
	queue queueChoice

	// procs are the running children, in start order.
	mu    sync.Mutex
	procs []*proc
}

func (s *stack) run(ctx context.Context) (err error) {
	start := time.Now()
	if err := s.generateServiceKeys(); err != nil {
		return err
	}
	embeddedKafka := len(s.cfg.kafka) == 0
	embeddedJaeger := s.cfg.otlp == ""
	redisURL := s.redisURL()
	s.queue = chooseRabbitMQ(s.cfg)

	var jaeger jaegerChoice
	if embeddedJaeger {
		rel, err := defaultJaegerRelease(s.getenv)
		if err != nil {
			return err
		}
		if jaeger, err = chooseJaeger(ctx, s.cfg, rel, s.console.printf); err != nil {
			return err
		}
	}
	if !s.cfg.buildOnly {
		if busy := portsInUse(ctx, s.ports(embeddedKafka, embeddedJaeger)); len(busy) > 0 {
			return portsError(busy)
		}
	}

	b, err := newBuilder(s.cfg, s.console)
	if err != nil {
		return err
	}
	if err := b.buildAll(ctx, jaeger); err != nil {
		return s.interrupted(ctx, err)
	}
	if s.cfg.buildOnly {
		s.console.printf("binaries are in %s", s.cfg.binDir)
		return nil
	}
	built := time.Now()

	if err := os.MkdirAll(s.cfg.dataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	sp := newSpawner()
	// Every child has exited by the time the deferred stopAll returns, so
	// the spawner's thread may go.
	defer sp.close()
	defer func() {
		if stopErr := s.stopAll(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()

	brokers := s.cfg.kafka
	if embeddedKafka {
		brokers = []string{"127.0.0.1:" + strconv.Itoa(brokerPort)}
	}
	otlp := s.cfg.otlp
	if embeddedJaeger {
		otlp = jaegerOTLPHTTP
	}

	// The broker and Jaeger first, side by side: the services export spans
	// from their first request and create their topics as they start.
	var placeholderUI bool
	err = s.parallel(ctx,
		func(ctx context.Context) error {
			if embeddedKafka {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find devstack's binary to start the broker: %w", err)
				}
				p, err := s.start(sp, procSpec{
					name:  "kafka",
					order: 0,
					path:  exe,
					args:  []string{"broker", "-port", strconv.Itoa(brokerPort), "-data", filepath.Join(s.cfg.dataDir, "kfake")},
					env:   os.Environ(),
					dir:   s.cfg.root,
				})
				if err != nil {
					return err
				}
				return s.waitReady(ctx, p, probeKafka(brokers))
			}
			return waitReady(ctx, "Kafka at "+strings.Join(brokers, ","), nil, s.cfg.readyTimeout, probeKafka(brokers))
		},
		func(ctx context.Context) error {
			if s.cfg.redis != "" {
				return waitReady(ctx, "Redis", nil, s.cfg.readyTimeout, probeRedis(redisURL))
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find devstack's binary to start Redis: %w", err)
			}
			p, err := s.start(sp, procSpec{
				name: "redis", order: 0, path: exe, env: os.Environ(), dir: s.cfg.root,
				args: []string{"redis", "-port", strconv.Itoa(redisPort)},
			})
			if err != nil {
				return err
			}
			return s.waitReady(ctx, p, probeRedis(redisURL))
		},
		func(ctx context.Context) error {
			if !s.queue.embedded() {
				return nil
			}
			epmd, err := s.start(sp, s.epmdSpec(s.queue.epmd))
			if err != nil {
				return err
			}
			if err := s.waitReady(ctx, epmd, probeEPMD(net.JoinHostPort("127.0.0.1", strconv.Itoa(rabbitEPMDPort)))); err != nil {
				return err
			}
			spec, err := s.rabbitSpec(s.queue.server)
			if err != nil {
				return err
			}
			p, err := s.start(sp, spec)
			if err != nil {
				return err
			}
			return s.waitReady(ctx, p, probeAMQP(s.queue.url))
		},
		func(ctx context.Context) error {
			if !embeddedJaeger {
				return nil
			}
			p, err := s.start(sp, procSpec{
				name:  "jaeger",
				order: 1,
				path:  jaeger.path,
				args:  []string{"--config", filepath.Join(s.cfg.root, jaegerConfigPath)},
				env:   append(os.Environ(), "JAEGER_UI_ASSETS="+s.cfg.jaegerUIAssets),
				dir:   s.cfg.root,
			})
			if err != nil {
				return err
			}
			if err := s.waitReady(ctx, p, probeHTTP(jaegerHealthURL)); err != nil {
				return err
			}
			placeholderUI, err = jaegerUIIsPlaceholder(ctx, jaegerQueryURL)
			if err != nil {
				return fmt.Errorf("jaeger UI: %w", err)
			}
			return nil
		},
	)
	if err != nil {
		return s.interrupted(ctx, err)
	}

	// The services start together: none needs another to start (gRPC
	// clients connect lazily, events wait in the outbox).
	var starts []func(context.Context) error
	for i, svc := range services {
		if svc.jobQueue && !s.queue.on() {
			continue
		}
		starts = append(starts, func(ctx context.Context) error {
			p, err := s.start(sp, procSpec{
				name:  svc.name,
				order: 2 + i,
				path:  filepath.Join(s.cfg.binDir, svc.name),
				env:   s.serviceEnv(svc, brokers, otlp, embeddedJaeger),
				dir:   s.cfg.root,
			})
			if err != nil {
				return err
			}
			return s.waitReady(ctx, p, probeHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", svc.httpPort)))
		})
	}
	if err := s.parallel(ctx, starts...); err != nil {
		return s.interrupted(ctx, err)
	}

	s.console.block(s.summary(summaryInfo{
		brokers:        brokers,
		embeddedKafka:  embeddedKafka,
		otlp:           otlp,
		embeddedJaeger: embeddedJaeger,
		jaeger:         jaeger,
		placeholderUI:  placeholderUI,
		buildTime:      built.Sub(start),
		startTime:      time.Since(built),
	}))

	if p := waitAny(ctx, s.running()); p != nil && !p.isStopping() {
		s.console.printf("%s", p.crashReport())
		return fmt.Errorf("%s exited unexpectedly; stopped the rest", p.name)
	}
	s.console.printf("stopping (Ctrl-C again to quit at once)...")
	return nil
}

// interrupted turns the failure of a step that Ctrl-C cut short into a
// clean exit: the user asked for it, there is nothing to report.
func (s *stack) interrupted(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	s.console.printf("interrupted (%v)", err)
	return nil
}

// ports lists what this run will listen on.
func (s *stack) ports(embeddedKafka, embeddedJaeger bool) []port {
	var ps []port
	if embeddedKafka {
		ps = append(ps, port{brokerPort, "embedded Kafka"})
	}
	if s.cfg.redis == "" {
		ps = append(ps, port{redisPort, "embedded Redis"})
	}
	if embeddedJaeger {
		ps = append(ps, port{16686, "Jaeger UI/API"}, port{16685, "Jaeger query gRPC"},
			port{4317, "OTLP gRPC"}, port{4318, "OTLP HTTP"}, port{13133, "Jaeger health"})
	}
	if s.queue.embedded() {
		ps = append(ps, port{rabbitPort, "RabbitMQ AMQP"}, port{rabbitDistPort, "RabbitMQ distribution"},
			port{rabbitEPMDPort, "RabbitMQ's Erlang port mapper"})
	}
	for _, svc := range services {
		if svc.jobQueue && !s.queue.on() {
			continue
		}
		ps = append(ps, port{svc.httpPort, svc.name + " REST"})
		if svc.grpcPort != 0 {
			ps = append(ps, port{svc.grpcPort, svc.name + " gRPC"})
		}
	}
	return ps
}

func portsError(busy []port) error {
	var b strings.Builder
	b.WriteString("these ports are already in use on 127.0.0.1:")
	for _, p := range busy {
		fmt.Fprintf(&b, " %d (%s)", p.number, p.owner)
	}
	b.WriteString("; is another `make run` running? (`ss -ltnp` shows who listens)")
	return errors.New(b.String())
}

func (s *stack) generateServiceKeys() error {
	s.serviceKeys = map[string]string{}
	var peers []string
	for _, svc := range services {
		_, private, public, err := peerauth.GenerateKey()
		if err != nil {
			return err
		}
		s.serviceKeys[svc.name] = private
		peers = append(peers, svc.name+"="+public)
	}
	s.peers = strings.Join(peers, ",")
	return nil
}

// serviceEnv is a service's environment: devstack's own, so the user's
// LOG_LEVEL, OTEL_TRACES_SAMPLER and the like apply, with the addresses of
// this stack on top (exec.Cmd keeps the last of duplicate keys).
func (s *stack) serviceEnv(svc service, brokers []string, otlp string, embeddedJaeger bool) []string {
	dbURL := s.cfg.databaseURL[svc.name]
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(s.cfg.dataDir, svc.name+".db")
	}
	env := append(os.Environ(),
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(svc.httpPort),
		"DATABASE_URL="+dbURL,
		"KAFKA_BROKERS="+strings.Join(brokers, ","),
		"USER_GRPC_ADDR=127.0.0.1:"+strconv.Itoa(services[0].grpcPort),
		"VIDEO_GRPC_ADDR=127.0.0.1:"+strconv.Itoa(services[1].grpcPort),
		"OTEL_SERVICE_NAME="+svc.name,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlp,
		"SERVICE_AUTH=required",
		"SERVICE_KEY="+s.serviceKeys[svc.name],
		"SERVICE_PEERS="+s.peers,
		// Empty when the queue is off, even if devstack's own
		// environment names one ("off").
		"RABBITMQ_URL="+s.queue.url,
	)
	if svc.name == "video" {
		// The replicas' read cache is on only with a Redis to hear each
		// other's changes through.
		env = append(env, "REDIS_URL="+s.redisURL())
	}
	if svc.grpcPort != 0 {
		env = append(env, "GRPC_ADDR=127.0.0.1:"+strconv.Itoa(svc.grpcPort))
	}
	if embeddedJaeger {
		// The embedded Jaeger's OTLP/HTTP port; an external endpoint keeps
		// whatever protocol the user's environment says.
		env = append(env, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	}
	if s.getenv("OTEL_BSP_SCHEDULE_DELAY") == "" {
		// Spans reach Jaeger 200 ms after they end instead of the SDK's
		// 5 s: on a laptop, one looks at a trace right after the request.
		env = append(env, "OTEL_BSP_SCHEDULE_DELAY=200")
	}
	if s.getenv("OTEL_RESOURCE_ATTRIBUTES") == "" {
		env = append(env, "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=local")
	}
	return env
}

// redisURL is the Redis the video service uses: REDIS_URL, or the
// embedded one.
func (s *stack) redisURL() string {
	if s.cfg.redis != "" {
		return s.cfg.redis
	}
	return "redis://127.0.0.1:" + strconv.Itoa(redisPort) + "/0"
}

func (s *stack) start(sp *spawner, spec procSpec) (*proc, error) {
	p, err := startProc(sp, spec, s.console, filepath.Join(s.cfg.dataDir, "logs"))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.console.printf("started %s (pid %d)", spec.name, p.pid())
	return p, nil
}

// waitReady waits for p and, if it exited instead, reports why.
func (s *stack) waitReady(ctx context.Context, p *proc, probe func(context.Context) error) error {
	t := time.Now()
	err := waitReady(ctx, p.name, p, s.cfg.readyTimeout, probe)
	if errors.Is(err, errExited) {
		return errors.New(p.crashReport())
	}
	if err != nil {
		return err
	}
	s.console.printf("%s is ready (%s)", p.name, since(t))
	return nil
}

// parallel runs fns concurrently and returns their errors joined; the first
// failure cancels the others' context, so a start that cannot succeed does
// not wait out the readiness timeout of the rest.
func (s *stack) parallel(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	// Only report the cause, not the cancellations it led to.
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return errors.Join(errs...)
}

func (s *stack) running() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*proc(nil), s.procs...)
}

// stopAll stops the children one at a time, in the reverse of the stack's
// order: watch-history, video and user drain their requests and flush
// their last spans while Jaeger still runs, and their producers and
// consumers finish while the broker does; the broker goes last and saves
// its state.
func (s *stack) stopAll() error {
	procs := s.running()
	slices.SortStableFunc(procs, func(a, b *proc) int { return cmp.Compare(b.order, a.order) })
	var errs []error
	for _, p := range procs {
		if p.exited() && !p.isStopping() {
			continue // already reported as a crash
		}
		t := time.Now()
		if err := p.stop(s.cfg.stopTimeout); err != nil {
			s.console.printf("%v", err)
			errs = append(errs, err)
			continue
		}
		s.console.printf("stopped %s (%s)", p.name, since(t))
	}
	if len(procs) > 0 {
		s.console.printf("data kept in %s; the next run continues from it", s.cfg.dataDir)
	}
	return errors.Join(errs...)
}
