// Package app is the topic operator's composition root: a controller-runtime
// manager (leader election, health and metrics endpoints) running the
// KafkaTopic reconciler against a Kafka cluster. It lives outside internal/
// so tests can run the real operator in-process against envtest.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vidstream/vidstream/services/internal/telemetry"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	"github.com/vidstream/vidstream/services/topic-operator/internal/controller"
	"github.com/vidstream/vidstream/services/topic-operator/internal/kafkaadmin"
)

// LeaderElectionID names the Lease replicas compete for.
const LeaderElectionID = "topic-operator.messaging.vidstream.dev"

// Scheme returns a scheme with the built-in types and KafkaTopic.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(messagingv1alpha1.AddToScheme(s))
	return s
}

// App is a configured operator, ready to run.
type App struct {
	mgr ctrl.Manager
}

// New builds the manager and registers the reconciler; nothing talks to
// Kafka until Run, and Kafka being down never stops the operator.
func New(cfg Config, restCfg *rest.Config, p telemetry.Providers) (*App, error) {
	if len(cfg.KafkaBrokers) == 0 {
		return nil, errors.New("topic-operator: no Kafka brokers configured (KAFKA_BROKERS)")
	}
	opts := ctrl.Options{
		Scheme: Scheme(),
		// controller-runtime logs through logr; hand it the service's
		// slog handler, so its lines are JSON like every other.
		Logger:                        logr.FromSlogHandler(p.Logger.Handler()),
		Metrics:                       metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress:        cfg.HealthAddr,
		LeaderElection:                cfg.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       cfg.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true, // the process exits right after: a successor need not wait out the lease
		GracefulShutdownTimeout:       durationPtr(cfg.KafkaTimeout + 5*time.Second),
	}
	if cfg.WatchNamespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.WatchNamespace: {}}}
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return nil, fmt.Errorf("topic-operator: manager: %w", err)
	}
	admin := kafkaadmin.New(cfg.KafkaBrokers, cfg.KafkaTimeout, p)
	if err := controller.SetupWithManager(mgr, admin, p, controller.Options{
		ResyncPeriod:       cfg.ResyncPeriod,
		RetryBaseDelay:     cfg.RetryBaseDelay,
		RetryMaxDelay:      cfg.RetryMaxDelay,
		SkipNameValidation: cfg.SkipNameValidation,
	}); err != nil {
		return nil, fmt.Errorf("topic-operator: controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("topic-operator: healthz: %w", err)
	}
	// Ready once the informers have synced: before that a reconcile
	// would work from an empty cache. Kafka is not part of readiness:
	// nothing routes traffic to the operator, and restarting it would not
	// bring Kafka back.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informers not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("topic-operator: readyz: %w", err)
	}
	return &App{mgr: mgr}, nil
}

// Run runs the manager until ctx ends: elects a leader (if configured),
// serves health and metrics, reconciles.
func (a *App) Run(ctx context.Context) error {
	if err := a.mgr.Start(ctx); err != nil {
		return fmt.Errorf("topic-operator: %w", err)
	}
	return nil
}

// Elected is closed once this replica leads (at once without leader
// election).
func (a *App) Elected() <-chan struct{} { return a.mgr.Elected() }

func durationPtr(d time.Duration) *time.Duration { return &d }
