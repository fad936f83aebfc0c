// Package controller reconciles KafkaTopic resources with Kafka: it creates
// missing topics, grows partitions, applies settings and deletes topics
// whose resource asks for it, and reports what it found in each
// resource's status.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/vidstream/vidstream/services/internal/telemetry"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	"github.com/vidstream/vidstream/services/topic-operator/internal/kafkaadmin"
)

// Finalizer holds a KafkaTopic with deletionPolicy Delete until its topic
// is gone from Kafka. Resources with Retain carry none: nothing needs doing
// when they go, and an uninstall that removes the operator first cannot
// leave them stuck.
const Finalizer = "messaging.vidstream.dev/delete-topic"

// readyGauge exposes each KafkaTopic's Ready condition on the manager's
// /metrics, for alerts ("a topic has not been Ready for 10 minutes") that
// need no access to the Kubernetes API.
var readyGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "vidstream_kafkatopic_ready",
	Help: "1 if the KafkaTopic's Ready condition is True, else 0; reason is the condition's reason.",
}, []string{"namespace", "name", "topic", "reason"})

func init() {
	ctrlmetrics.Registry.MustRegister(readyGauge)
}

// observeReady records kt's Ready condition in readyGauge, replacing the
// series of its previous reason.
func observeReady(kt *messagingv1alpha1.KafkaTopic) {
	forgetReady(kt.Namespace, kt.Name)
	c := meta.FindStatusCondition(kt.Status.Conditions, messagingv1alpha1.ConditionReady)
	if c == nil {
		return
	}
	v := 0.0
	if c.Status == metav1.ConditionTrue {
		v = 1
	}
	readyGauge.WithLabelValues(kt.Namespace, kt.Name, kt.TopicName(), c.Reason).Set(v)
}

func forgetReady(namespace, name string) {
	readyGauge.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}

// Admin is what the reconciler needs of Kafka (kafkaadmin.Client).
type Admin interface {
	Describe(ctx context.Context, name string) (kafkaadmin.Topic, error)
	Create(ctx context.Context, name string, partitions, replicationFactor int, config map[string]string) error
	GrowPartitions(ctx context.Context, name string, total int) error
	AlterConfig(ctx context.Context, name string, set map[string]string, reset []string) error
	Delete(ctx context.Context, name string) error
}

// Options tune the reconciler; zero values take the defaults in comments.
type Options struct {
	// ResyncPeriod re-reconciles a healthy topic this often, repairing
	// changes made directly in Kafka (default 5m).
	ResyncPeriod time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the per-resource exponential
	// backoff after a failed reconcile (defaults 500ms and 1m).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
}

func (o Options) withDefaults() Options {
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = 5 * time.Minute
	}
	if o.RetryBaseDelay <= 0 {
		o.RetryBaseDelay = 500 * time.Millisecond
	}
	if o.RetryMaxDelay <= 0 {
		o.RetryMaxDelay = time.Minute
	}
	return o
}

// KafkaTopicReconciler makes Kafka match KafkaTopic resources.
type KafkaTopicReconciler struct {
	client   client.Client
	admin    Admin
	recorder recorder.EventRecorder
	tracer   trace.Tracer
	log      *slog.Logger
	opts     Options
}

// +kubebuilder:rbac:groups=messaging.vidstream.dev,resources=kafkatopics,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=messaging.vidstream.dev,resources=kafkatopics/status,verbs=update
// +kubebuilder:rbac:groups=messaging.vidstream.dev,resources=kafkatopics/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers a KafkaTopic reconciler with mgr.
func SetupWithManager(mgr ctrl.Manager, admin Admin, p telemetry.Providers, opts Options) error {
	opts = opts.withDefaults()
	r := &KafkaTopicReconciler{
		client:   mgr.GetClient(),
		admin:    admin,
		recorder: mgr.GetEventRecorder("topic-operator"),
		tracer:   p.Tracer.Tracer("github.com/vidstream/vidstream/services/topic-operator/internal/controller"),
		log:      p.Logger.With(slog.String("controller", "kafkatopic")),
		opts:     opts,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("kafkatopic").
		// Status writes bump no generation: reacting to them would only
		// repeat the reconcile that made them.
		For(&messagingv1alpha1.KafkaTopic{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WithOptions(controller.Options{
			SkipNameValidation: &opts.SkipNameValidation,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				opts.RetryBaseDelay, opts.RetryMaxDelay),
		}).
		Complete(r)
}

// Reconcile brings one topic in line with its resource. A failure to reach
// Kafka is returned as an error, so the work queue retries with per-topic
// exponential backoff; Kafka refusing the spec is reported in the status
// and not retried until the spec changes (or the next resync).
func (r *KafkaTopicReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	ctx, span := r.tracer.Start(ctx, "reconcile KafkaTopic",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("k8s.namespace.name", req.Namespace),
			attribute.String("k8s.kafkatopic.name", req.Name),
		))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	var kt messagingv1alpha1.KafkaTopic
	if err := r.client.Get(ctx, req.NamespacedName, &kt); err != nil {
		// Gone: a Retain resource needs nothing, a Delete one was held
		// by the finalizer until its topic went.
		if apierrors.IsNotFound(err) {
			forgetReady(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	topic := kt.TopicName()
	span.SetAttributes(attribute.String("messaging.destination.name", topic))
	log := r.log.With(slog.String("namespace", kt.Namespace), slog.String("kafkatopic", kt.Name), slog.String("topic", topic))

	if !kt.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, log, &kt)
	}
	if err := r.syncFinalizer(ctx, &kt); err != nil {
		return ctrl.Result{}, err
	}

	before := kt.Status.DeepCopy()
	observed, syncErr := r.sync(ctx, log, &kt)
	r.setStatus(&kt, observed, syncErr)
	observeReady(&kt)
	span.SetAttributes(attribute.String("vidstream.kafkatopic.reason", meta.FindStatusCondition(kt.Status.Conditions, messagingv1alpha1.ConditionReady).Reason))
	if !equality.Semantic.DeepEqual(before, &kt.Status) {
		if err := r.client.Status().Update(ctx, &kt); err != nil {
			return ctrl.Result{}, errors.Join(syncErr, fmt.Errorf("update status of %s/%s: %w", kt.Namespace, kt.Name, err))
		}
	}
	switch {
	case syncErr == nil:
		return ctrl.Result{RequeueAfter: r.opts.ResyncPeriod}, nil
	case kafkaadmin.IsInvalid(syncErr) || errors.Is(syncErr, errSpec):
		// Retrying cannot help until someone edits the spec, which
		// triggers a reconcile of its own; the resync still looks now
		// and then, in case Kafka changed under it.
		log.WarnContext(ctx, "kafka topic does not match its spec", slog.Any("error", syncErr))
		return ctrl.Result{RequeueAfter: r.opts.ResyncPeriod}, nil
	default:
		return ctrl.Result{}, syncErr
	}
}

// errSpec marks a spec Kafka cannot be brought to (a partition decrease,
// another replication factor): a problem for a human, not a retry.
var errSpec = errors.New("spec cannot be applied")

// observation is what a sync found in Kafka.
type observation struct {
	partitions int // 0: unknown
}

// sync makes the topic match kt's spec as far as Kafka allows, returning
// what it observed and the first problem it met.
func (r *KafkaTopicReconciler) sync(ctx context.Context, log *slog.Logger, kt *messagingv1alpha1.KafkaTopic) (observation, error) {
	topic := kt.TopicName()
	spec := kt.Spec
	want := int(spec.Partitions)
	rf := max(int(spec.ReplicationFactor), 1)

	current, err := r.admin.Describe(ctx, topic)
	if errors.Is(err, kafkaadmin.ErrTopicNotFound) {
		if err := r.admin.Create(ctx, topic, want, rf, spec.Config); err != nil {
			return observation{}, err
		}
		log.InfoContext(ctx, "created kafka topic", slog.Int("partitions", want), slog.Int("replication_factor", rf))
		r.recorder.Eventf(kt, nil, corev1.EventTypeNormal, "Created", "CreateTopic",
			"created topic %s with %d partitions, replication factor %d", topic, want, rf)
		return observation{partitions: want}, nil
	}
	if err != nil {
		return observation{}, err
	}

	obs := observation{partitions: current.Partitions}
	var problems []error
	switch {
	case want > current.Partitions:
		if err := r.admin.GrowPartitions(ctx, topic, want); err != nil {
			return obs, err
		}
		log.InfoContext(ctx, "grew kafka topic", slog.Int("from", current.Partitions), slog.Int("to", want))
		r.recorder.Eventf(kt, nil, corev1.EventTypeNormal, "PartitionsIncreased", "CreatePartitions",
			"grew topic %s from %d to %d partitions", topic, current.Partitions, want)
		obs.partitions = want
	case want < current.Partitions:
		problems = append(problems, &specError{
			reason: messagingv1alpha1.ReasonPartitionDecreaseNotSupported,
			msg: fmt.Sprintf("spec.partitions is %d but the topic has %d: Kafka cannot remove partitions; "+
				"set spec.partitions to %d or more (the topic keeps %d)", want, current.Partitions, current.Partitions, current.Partitions),
		})
	}
	if current.ReplicationFactor != rf {
		problems = append(problems, &specError{
			reason: messagingv1alpha1.ReasonReplicationFactorMismatch,
			msg: fmt.Sprintf("spec.replicationFactor is %d but the topic has %d: changing it needs a partition "+
				"reassignment, which this operator does not do", rf, current.ReplicationFactor),
		})
	}

	set, reset := configDiff(current.Config, spec.Config)
	if len(set) > 0 || len(reset) > 0 {
		if err := r.admin.AlterConfig(ctx, topic, set, reset); err != nil {
			return obs, err
		}
		log.InfoContext(ctx, "updated kafka topic config", slog.Any("set", set), slog.Any("reset", reset))
		r.recorder.Eventf(kt, nil, corev1.EventTypeNormal, "ConfigUpdated", "AlterConfigs",
			"topic %s: set %s; reset %s", topic, describeSet(set), describeReset(reset))
	}
	return obs, errors.Join(problems...)
}

// configDiff returns the settings to set (missing or different in Kafka)
// and those to reset (set on the topic but no longer in the spec).
func configDiff(current, want map[string]string) (set map[string]string, reset []string) {
	set = map[string]string{}
	for k, v := range want {
		if cur, ok := current[k]; !ok || cur != v {
			set[k] = v
		}
	}
	for k := range current {
		if _, ok := want[k]; !ok {
			reset = append(reset, k)
		}
	}
	slices.Sort(reset)
	return set, reset
}

func describeSet(set map[string]string) string {
	if len(set) == 0 {
		return "nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, k+"="+set[k])
	}
	return strings.Join(parts, ", ")
}

func describeReset(reset []string) string {
	if len(reset) == 0 {
		return "nothing"
	}
	return strings.Join(reset, ", ")
}

// specError is a spec Kafka cannot be brought to; reason is the Ready
// condition's reason.
type specError struct {
	reason string
	msg    string
}

func (e *specError) Error() string { return e.msg }
func (e *specError) Unwrap() error { return errSpec }

// setStatus records what sync observed and found in kt's status.
func (r *KafkaTopicReconciler) setStatus(kt *messagingv1alpha1.KafkaTopic, obs observation, err error) {
	kt.Status.ObservedGeneration = kt.Generation
	kt.Status.TopicName = kt.TopicName()
	if obs.partitions > 0 {
		kt.Status.Partitions = int32(obs.partitions)
	}
	cond := metav1.Condition{
		Type:               messagingv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             messagingv1alpha1.ReasonReconciled,
		Message:            fmt.Sprintf("topic %s has %d partitions and the spec's config", kt.TopicName(), kt.Status.Partitions),
		ObservedGeneration: kt.Generation,
	}
	if err != nil {
		cond.Status = metav1.ConditionFalse
		cond.Reason, cond.Message = reasonOf(err)
	}
	meta.SetStatusCondition(&kt.Status.Conditions, cond)
}

// reasonOf names the Ready condition's reason for err and a message for
// the person reading `kubectl describe`.
func reasonOf(err error) (reason, message string) {
	var se *specError
	switch {
	case errors.As(err, &se):
		return se.reason, err.Error()
	case kafkaadmin.IsUnavailable(err):
		return messagingv1alpha1.ReasonKafkaUnavailable, "cannot reach Kafka, retrying with backoff: " + err.Error()
	case kafkaadmin.IsInvalid(err):
		return messagingv1alpha1.ReasonInvalidConfig, "Kafka refused the spec: " + err.Error()
	default:
		return messagingv1alpha1.ReasonKafkaError, err.Error()
	}
}

// syncFinalizer adds the finalizer to a Delete resource and removes it
// from a Retain one (the policy may have been switched).
func (r *KafkaTopicReconciler) syncFinalizer(ctx context.Context, kt *messagingv1alpha1.KafkaTopic) error {
	var changed bool
	if kt.Spec.DeletionPolicy == messagingv1alpha1.DeletionPolicyDelete {
		changed = controllerutil.AddFinalizer(kt, Finalizer)
	} else {
		changed = controllerutil.RemoveFinalizer(kt, Finalizer)
	}
	if !changed {
		return nil
	}
	if err := r.client.Update(ctx, kt); err != nil {
		return fmt.Errorf("update finalizers of %s/%s: %w", kt.Namespace, kt.Name, err)
	}
	return nil
}

// finalize deletes the topic of a Delete resource from Kafka, then lets
// the resource go.
func (r *KafkaTopicReconciler) finalize(ctx context.Context, log *slog.Logger, kt *messagingv1alpha1.KafkaTopic) error {
	if !controllerutil.ContainsFinalizer(kt, Finalizer) {
		return nil
	}
	// The finalizer is only ever added for Delete, but the policy may have
	// been switched to Retain after deletion began: honour the spec.
	if kt.Spec.DeletionPolicy == messagingv1alpha1.DeletionPolicyDelete {
		if err := r.admin.Delete(ctx, kt.TopicName()); err != nil {
			reason, msg := reasonOf(err)
			meta.SetStatusCondition(&kt.Status.Conditions, metav1.Condition{
				Type: messagingv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
				Reason: reason, Message: "deleting the topic: " + msg, ObservedGeneration: kt.Generation,
			})
			if uerr := r.client.Status().Update(ctx, kt); uerr != nil && !apierrors.IsNotFound(uerr) {
				err = errors.Join(err, uerr)
			}
			return err
		}
		log.InfoContext(ctx, "deleted kafka topic")
		r.recorder.Eventf(kt, nil, corev1.EventTypeNormal, "Deleted", "DeleteTopic", "deleted topic %s from Kafka", kt.TopicName())
	}
	controllerutil.RemoveFinalizer(kt, Finalizer)
	if err := r.client.Update(ctx, kt); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of %s/%s: %w", kt.Namespace, kt.Name, err)
	}
	return nil
}
