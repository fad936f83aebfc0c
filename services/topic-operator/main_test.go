package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vidstream/vidstream/services/internal/k8stest"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	"github.com/vidstream/vidstream/services/topic-operator/app"
)

// replicaEnv makes the test binary run the operator instead of the tests:
// leader election is between processes, so the test starts real ones.
const replicaEnv = "TOPIC_OPERATOR_TEST_REPLICA"

func TestMain(m *testing.M) {
	if os.Getenv(replicaEnv) == "1" {
		os.Exit(replicaMain())
	}
	ctrl.SetLogger(logr.Discard())
	os.Exit(k8stest.Main(m, k8stest.Options{
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "k8s", "crds")},
	}))
}

// replicaMain is main, in a process the test started.
func replicaMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, []string{"topic-operator"}, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// replica is one operator process.
type replica struct {
	health, metrics string
	stop            func()
}

// startReplica starts the operator in a process of its own with env, and
// stops it (SIGTERM, as Kubernetes does) when t ends.
func startReplica(t *testing.T, name string, env map[string]string) *replica {
	t.Helper()
	r := &replica{health: loopback.FreeAddr(t), metrics: loopback.FreeAddr(t)}
	env["HEALTH_ADDR"], env["METRICS_ADDR"] = r.health, r.metrics
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), replicaEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("replica %s exited with %v", name, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("replica %s did not stop within 30s of SIGTERM (killed: %v)", name, <-done)
		}
		_ = logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("replica %s log:\n%s", name, out)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

func leaseHolder(ctx context.Context, c client.Client, ns string) (string, error) {
	var lease coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: app.LeaderElectionID}, &lease); err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *lease.Spec.HolderIdentity, nil
}

// TestRunElectsOneLeaderServesHealthAndMetrics runs two replicas as the
// chart does (leader election on, one namespace): one leads and
// reconciles, both answer health checks, and when the leader stops the
// other takes over.
func TestRunElectsOneLeaderServesHealthAndMetrics(t *testing.T) {
	cfg := k8stest.Shared(t)
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "run-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	brokers := kafkatest.Broker(t)
	env := func() map[string]string {
		return map[string]string{
			"KUBECONFIG":                k8stest.SharedKubeconfig(t),
			"KAFKA_BROKERS":             strings.Join(brokers, ","),
			"WATCH_NAMESPACE":           ns.Name,
			"LEADER_ELECT":              "true",
			"POD_NAMESPACE":             ns.Name, // the Lease's namespace, as in a pod
			"OTEL_TRACES_EXPORTER":      "none",
			"OTEL_METRICS_EXPORTER":     "none",
			"RETRY_MAX_DELAY":           "1s",
			"LEADER_ELECTION_NAMESPACE": "",
		}
	}
	first := startReplica(t, "first", env())
	kafkatest.Eventually(t, func() error {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body, err := get(t.Context(), "http://"+first.health+path); err != nil || code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %q %v", path, code, body, err)
			}
		}
		return nil
	})
	var leader string
	kafkatest.Eventually(t, func() error {
		leader, err = leaseHolder(t.Context(), c, ns.Name)
		if err == nil && leader == "" {
			err = fmt.Errorf("lease %s has no holder", app.LeaderElectionID)
		}
		return err
	})

	second := startReplica(t, "second", env())
	kafkatest.Eventually(t, func() error {
		if code, body, err := get(t.Context(), "http://"+second.health+"/healthz"); err != nil || code != http.StatusOK {
			return fmt.Errorf("second replica GET /healthz: %d %q %v", code, body, err)
		}
		return nil
	})

	reconciled := func(leader *replica, name string) {
		t.Helper()
		topic := kafkatest.Name(t, "run")
		kt := &messagingv1alpha1.KafkaTopic{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Spec:       messagingv1alpha1.KafkaTopicSpec{TopicName: topic, Partitions: 1, DeletionPolicy: messagingv1alpha1.DeletionPolicyDelete},
		}
		if err := c.Create(t.Context(), kt); err != nil {
			t.Fatal(err)
		}
		var progress strings.Builder
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := app.WaitReady(ctx, c, ns.Name, []string{name}, 250*time.Millisecond, &progress); err != nil {
			t.Fatalf("%v\n%s", err, progress.String())
		}
		// The leader's metrics: its reconciles, and the topic's Ready
		// condition as a gauge.
		kafkatest.Eventually(t, func() error {
			code, body, err := get(t.Context(), "http://"+leader.metrics+"/metrics")
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("GET /metrics: %d, %v", code, err)
			}
			for _, want := range []string{
				`controller_runtime_reconcile_total{controller="kafkatopic",result="success"}`,
				fmt.Sprintf(`vidstream_kafkatopic_ready{name=%q,namespace=%q,reason="Reconciled",topic=%q} 1`, name, ns.Name, topic),
			} {
				if !strings.Contains(body, want) {
					return fmt.Errorf("/metrics lacks %s", want)
				}
			}
			return nil
		})
		// Deleting it deletes the topic, so a shared broker keeps nothing.
		if err := c.Delete(t.Context(), kt); err != nil {
			t.Fatal(err)
		}
	}
	reconciled(first, "before")
	if holder, err := leaseHolder(t.Context(), c, ns.Name); err != nil || holder != leader {
		t.Fatalf("lease holder changed to %q (%v) while the leader ran", holder, err)
	}

	// The leader stops and releases the lease: the second replica takes
	// over and reconciles.
	first.stop()
	kafkatest.Eventually(t, func() error {
		holder, err := leaseHolder(t.Context(), c, ns.Name)
		if err == nil && (holder == "" || holder == leader) {
			err = fmt.Errorf("lease still held by %q", holder)
		}
		return err
	})
	reconciled(second, "after")
}

func TestRunRejectsBadArguments(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{
		{"topic-operator", "serve"},
		{"topic-operator", "wait"},
		{"topic-operator", "wait", "-timeout", "soon", "t"},
	} {
		err := run(t.Context(), args, getenv, io.Discard)
		if err == nil {
			t.Errorf("run %v: nil error", args)
		}
	}
	err := run(t.Context(), []string{"topic-operator", "wait", "t"}, getenv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "POD_NAMESPACE") {
		t.Errorf("wait without a namespace: %v; want an error naming POD_NAMESPACE", err)
	}
}
