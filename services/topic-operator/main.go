// Command topic-operator reconciles KafkaTopic resources
// (messaging.vidstream.dev/v1alpha1) with the Kafka cluster at
// KAFKA_BROKERS: see app.Config for the environment it reads.
//
//	topic-operator                        run the operator (manager)
//	topic-operator wait [-timeout 10m] [-namespace NS] NAME...
//	                                      wait until the named KafkaTopics are Ready
//
// `wait` is what the services' init containers run, so a service starts
// once the topics it uses exist with the declared partitions and settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/vidstream/vidstream/services/internal/lifecycle"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/topic-operator/app"
)

func main() { lifecycle.Main("topic-operator", run) }

// run is main without process globals, so it can be tested.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	if len(args) > 1 && args[1] == "wait" {
		return runWait(ctx, args[2:], getenv, stdout)
	}
	if len(args) > 1 {
		return fmt.Errorf("unknown command %q (want no arguments, or wait)", args[1])
	}
	var cfg app.Config
	if err := config.Load(ctx, getenv, &cfg); err != nil {
		return err
	}
	restCfg, err := restConfig(getenv)
	if err != nil {
		return err
	}
	p, shutdown, err := telemetry.Setup(ctx, app.ServiceName, getenv, stdout)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Flushed last, so the spans of the final reconciles are not lost.
	defer func() {
		if serr := shutdown(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("telemetry shutdown: %w", serr))
		}
	}()
	if cfg.LeaderElectionNamespace == "" {
		cfg.LeaderElectionNamespace = getenv("POD_NAMESPACE")
	}
	// Some of client-go logs through controller-runtime's global logger,
	// not the manager's: route both to the JSON log.
	ctrl.SetLogger(logr.FromSlogHandler(p.Logger.Handler()))
	a, err := app.New(cfg, restCfg, p)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// runWait implements `topic-operator wait`.
func runWait(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	fs.SetOutput(stdout)
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	namespace := fs.String("namespace", getenv("POD_NAMESPACE"), "namespace of the KafkaTopics (default $POD_NAMESPACE)")
	interval := fs.Duration("interval", 2*time.Second, "time between checks")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(fs.Output(), "usage: topic-operator wait [flags] KAFKATOPIC...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("wait: name at least one KafkaTopic")
	}
	if *namespace == "" {
		return errors.New("wait: no namespace: set -namespace or POD_NAMESPACE")
	}
	restCfg, err := restConfig(getenv)
	if err != nil {
		return err
	}
	c, err := client.New(restCfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return fmt.Errorf("wait: kubernetes client: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("timed out after %s", *timeout))
	defer cancel()
	return app.WaitReady(ctx, c, *namespace, fs.Args(), *interval, stdout)
}

// restConfig finds the Kubernetes API: the file KUBECONFIG names, else the
// pod's service account (in a cluster), else ~/.kube/config.
func restConfig(getenv func(string) string) (*rest.Config, error) {
	if path := getenv("KUBECONFIG"); path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.SplitList(path)[0])
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	home := getenv("HOME")
	if home == "" {
		return nil, errors.New("no Kubernetes API: not in a cluster, and neither KUBECONFIG nor HOME is set")
	}
	cfg, err = clientcmd.BuildConfigFromFlags("", filepath.Join(home, ".kube", "config"))
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes API: not in a cluster, KUBECONFIG unset, and ~/.kube/config: %w", err)
	}
	return cfg, nil
}
