package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

type summaryInfo struct {
	brokers        []string
	embeddedKafka  bool
	otlp           string
	embeddedJaeger bool
	jaeger         jaegerChoice
	placeholderUI  bool
	buildTime      time.Duration
	startTime      time.Duration
}

// summary is the table printed once everything is ready: every address a
// user may want, and where the data and logs are.
func (s *stack) summary(info summaryInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  vidstream is running (build %s, start %s)\n\n",
		info.buildTime.Round(100*time.Millisecond), info.startTime.Round(10*time.Millisecond))

	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tREST API\tgRPC\tOPENAPI")
	for _, svc := range services {
		if svc.jobQueue && !s.queue.on() {
			fmt.Fprintf(tw, "  %s\tnot started: the job queue is off\t\t\n", svc.name)
			continue
		}
		rest := fmt.Sprintf("http://127.0.0.1:%d", svc.httpPort)
		grpc := "-"
		if svc.grpcPort != 0 {
			grpc = fmt.Sprintf("127.0.0.1:%d", svc.grpcPort)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s/openapi.json\n", svc.name, rest, grpc, rest)
	}
	_ = tw.Flush()
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	if info.embeddedJaeger {
		ui := info.jaeger.origin
		if info.placeholderUI {
			ui += "; placeholder UI, see below"
		}
		fmt.Fprintf(tw, "  Jaeger UI\t%s\t(%s)\n", jaegerQueryURL, ui)
		fmt.Fprintf(tw, "  OTLP\t%s (HTTP), %s (gRPC)\t\n", jaegerOTLPHTTP, jaegerOTLPGRPC)
	} else {
		fmt.Fprintf(tw, "  OTLP\t%s\t(external; no Jaeger started)\n", info.otlp)
	}
	if info.embeddedKafka {
		fmt.Fprintf(tw, "  Kafka\t%s\t(embedded kfake, state in %s)\n", strings.Join(info.brokers, ","), s.rel(filepath.Join(s.cfg.dataDir, "kfake")))
	} else {
		fmt.Fprintf(tw, "  Kafka\t%s\t(external)\n", strings.Join(info.brokers, ","))
	}
	if s.cfg.redis == "" {
		fmt.Fprintf(tw, "  Redis\t%s\t(embedded miniredis: video's cache invalidations)\n", s.redisURL())
	} else {
		fmt.Fprintf(tw, "  Redis\t%s\t(external: video's cache invalidations)\n", redact(s.cfg.redis))
	}
	switch {
	case s.queue.embedded():
		fmt.Fprintf(tw, "  RabbitMQ\t%s\t(devstack's own node, state in %s)\n", redact(s.queue.url), s.rel(filepath.Join(s.cfg.dataDir, "rabbitmq")))
	case s.queue.on():
		fmt.Fprintf(tw, "  RabbitMQ\t%s\t(external)\n", redact(s.queue.url))
	default:
		fmt.Fprintf(tw, "  RabbitMQ\tOFF\t(%s)\n", s.queue.why)
		fmt.Fprintf(tw, "  \tjob queue off: new videos are ready at once, no transcoder runs\t\n")
	}
	for _, svc := range services {
		if u, ok := s.cfg.databaseURL[svc.name]; ok {
			fmt.Fprintf(tw, "  %s db\t%s\t(%s)\n", svc.name, redact(u), databaseEnv[svc.name])
		}
	}
	fmt.Fprintf(tw, "  data\t%s\t(kept across runs; delete it to start afresh)\n", s.rel(s.cfg.dataDir))
	fmt.Fprintf(tw, "  logs\t%s\t\n", s.rel(filepath.Join(s.cfg.dataDir, "logs"))+string(filepath.Separator)+"<name>.log")
	_ = tw.Flush()

	if info.placeholderUI {
		b.WriteString(`
  This Jaeger was built from its Go module, whose web UI is only a placeholder
  page (the UI is a separate front-end build). The query API works: ` + "`make demo`" + `
  prints every trace as a waterfall in the terminal, and
  ` + "`go run ./services/loadgen trace <trace-id>`" + ` shows any other. For the real UI,
  let devstack download the release (it needs the archive's checksum pinned in
  services/devstack/jaeger-release.sha256: hack/jaeger-release-pin.sh, and
  the release host reachable), set JAEGER_BIN to a Jaeger v2 release binary,
  put ` + "`jaeger`" + ` on PATH, or point JAEGER_UI_ASSETS at a built jaeger-ui.
`)
	}
	b.WriteString("\n  Next: `make demo` in another terminal.   Stop: Ctrl-C.\n\n")
	return b.String()
}

// rel shortens paths inside the repository to relative ones.
func (s *stack) rel(path string) string {
	if r, err := filepath.Rel(s.cfg.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// redact hides a database URL's password.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return u
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
