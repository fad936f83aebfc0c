package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The devstack's own RabbitMQ node: AMQP on the standard port, and the
// Erlang distribution and port-mapper ports moved off their defaults, so
// it never joins, or clashes with, a node the package's service runs.
const (
	rabbitPort     = 5672
	rabbitDistPort = 25672
	rabbitEPMDPort = 24369
	rabbitNode     = "vidstream-devstack@localhost"
)

// rabbitURL is the embedded node's address; "guest" may connect, from
// loopback only, which is the only place the node listens.
var rabbitURL = "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(rabbitPort) + "/"

// Where Debian's package puts the broker: the script that runs the node as
// the calling user (the one on PATH, /usr/sbin/rabbitmq-server, switches to
// the rabbitmq user, whose files the devstack's data directory is not).
const debianRabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// queueChoice is how a run gets its job queue.
type queueChoice struct {
	// url is the broker's; empty means the job queue is off.
	url string
	// server is the rabbitmq-server script devstack starts, and epmd the
	// Erlang port mapper it starts first; empty when the broker is
	// external or the queue is off.
	server, epmd string
	// why says, when the queue is off, why.
	why string
}

func (q queueChoice) on() bool       { return q.url != "" }
func (q queueChoice) embedded() bool { return q.server != "" }

// chooseRabbitMQ picks the job queue: the broker named by -rabbitmq or
// RABBITMQ_URL ("off" turns the queue off), else a node of devstack's own
// when rabbitmq-server is installed (hack/rabbitmq.sh installs it), else
// none: videos are then ready as soon as they are created.
func chooseRabbitMQ(cfg config) queueChoice {
	switch cfg.rabbitmq {
	case "off":
		return queueChoice{why: "RABBITMQ_URL=off"}
	case "":
	default:
		return queueChoice{url: cfg.rabbitmq}
	}
	server := cfg.rabbitmqServer
	if server == "" {
		if _, err := os.Stat(debianRabbitServer); err == nil {
			server = debianRabbitServer
		} else if p, err := exec.LookPath("rabbitmq-server"); err == nil {
			server = p
		}
	}
	if server == "" {
		return queueChoice{why: "no RABBITMQ_URL and no rabbitmq-server installed (hack/rabbitmq.sh installs it)"}
	}
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		return queueChoice{why: "rabbitmq-server is installed but Erlang's epmd is not on PATH"}
	}
	return queueChoice{url: rabbitURL, server: server, epmd: epmd}
}

// rabbitSpec is the process of devstack's own node: its database, logs,
// configuration and Erlang cookie (HOME) under dataDir/rabbitmq, kept
// across runs like the other parts' state. It runs as the calling user,
// root included.
func (s *stack) rabbitSpec(server string) (procSpec, error) {
	dir := filepath.Join(s.cfg.dataDir, "rabbitmq")
	if err := os.MkdirAll(filepath.Join(dir, "mnesia"), 0o750); err != nil {
		return procSpec{}, fmt.Errorf("rabbitmq data directory: %w", err)
	}
	conf := "# Written by devstack on every run.\n" +
		"listeners.tcp.1 = 127.0.0.1:" + strconv.Itoa(rabbitPort) + "\n" +
		"log.console = true\nlog.console.level = warning\nlog.file = false\n"
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o600); err != nil {
		return procSpec{}, fmt.Errorf("rabbitmq configuration: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o600); err != nil {
		return procSpec{}, fmt.Errorf("rabbitmq plugins: %w", err)
	}
	return procSpec{
		name:  "rabbitmq",
		order: 0,
		path:  server,
		env: append(os.Environ(),
			"HOME="+dir,
			"RABBITMQ_NODENAME="+rabbitNode,
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			"RABBITMQ_NODE_PORT="+strconv.Itoa(rabbitPort),
			"RABBITMQ_DIST_PORT="+strconv.Itoa(rabbitDistPort),
			"ERL_EPMD_PORT="+strconv.Itoa(rabbitEPMDPort),
			"ERL_EPMD_ADDRESS=127.0.0.1",
			"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
			"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
			"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
			"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
			"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		),
		dir: dir,
	}, nil
}

// epmdSpec is the Erlang port mapper the node registers with, on a port of
// its own. devstack runs it as a child in the foreground: a node that finds
// no epmd starts one as a daemon, which would outlive the stack.
func (s *stack) epmdSpec(epmd string) procSpec {
	return procSpec{
		name:  "epmd",
		order: -1, // stops after the node
		path:  epmd,
		args:  []string{"-port", strconv.Itoa(rabbitEPMDPort), "-address", "127.0.0.1"},
		env:   os.Environ(),
		dir:   s.cfg.dataDir,
	}
}

// probeEPMD succeeds when an Erlang port mapper answers a NAMES request
// (a 2-byte length, then 'n') at addr with its port: it is up, and it is
// an epmd.
func probeEPMD(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte{0, 1, 'n'}); err != nil {
			return fmt.Errorf("epmd %s: %w", addr, err)
		}
		var port [4]byte
		if _, err := io.ReadFull(conn, port[:]); err != nil {
			return fmt.Errorf("epmd %s: no answer to NAMES: %w", addr, err)
		}
		if got := int(port[0])<<24 | int(port[1])<<16 | int(port[2])<<8 | int(port[3]); got != rabbitEPMDPort {
			return fmt.Errorf("epmd %s: answers for port %d", addr, got)
		}
		return nil
	}
}

// probeAMQP succeeds when the broker at url accepts an AMQP connection:
// the whole handshake, then a clean close, so the broker logs no warning
// for every probe.
func probeAMQP(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		timeout := 2 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(timeout)})
		if err != nil {
			return fmt.Errorf("amqp %s: %w", redact(url), err)
		}
		return conn.Close()
	}
}
