package app_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vidstream/vidstream/services/internal/k8stest"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	"github.com/vidstream/vidstream/services/topic-operator/app"
)

// One API server for the package: each test works in a namespace of its
// own, watched by an operator of its own.
func TestMain(m *testing.M) {
	// client-go's informers log through controller-runtime's global
	// logger; each operator logs through its own (the test's output).
	ctrl.SetLogger(logr.Discard())
	os.Exit(k8stest.Main(m, k8stest.Options{
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "..", "k8s", "crds")},
	}))
}

// env is one test's operator, namespace and clients.
type env struct {
	t       testing.TB
	k8s     client.Client // strict field validation, as kubectl does
	ns      string
	brokers []string
	spans   *tracetest.SpanRecorder
}

// newClient returns a client of the shared API server that rejects unknown
// fields instead of dropping them.
func newClient(t testing.TB, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return client.WithFieldValidation(c, metav1.FieldValidationStrict)
}

// newNamespace creates a namespace for t.
func newNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kt-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// startOperator runs the operator against brokers, watching a fresh
// namespace, until t ends.
func startOperator(t testing.TB, brokers []string) *env {
	t.Helper()
	return startOperatorWith(t, brokers, nil)
}

// startOperatorWith is startOperator with change applied to the
// configuration.
func startOperatorWith(t testing.TB, brokers []string, change func(*app.Config)) *env {
	t.Helper()
	cfg := k8stest.Shared(t)
	c := newClient(t, cfg)
	e := &env{t: t, k8s: c, ns: newNamespace(t, c), brokers: brokers}
	p, spans := telemetrytest.New(t)
	e.spans = spans
	appCfg := app.Config{
		KafkaBrokers:       brokers,
		WatchNamespace:     e.ns,
		MetricsAddr:        "0",
		ResyncPeriod:       time.Hour, // only the test's edits trigger reconciles
		RetryBaseDelay:     20 * time.Millisecond,
		RetryMaxDelay:      500 * time.Millisecond,
		KafkaTimeout:       3 * time.Second,
		SkipNameValidation: true,
	}
	if change != nil {
		change(&appCfg)
	}
	a, err := app.New(appCfg, cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "operator", a.Run)
	return e
}

// topic returns a KafkaTopic for a topic name unique to the test.
func (e *env) topic(partitions int32, config map[string]string, policy messagingv1alpha1.DeletionPolicy) *messagingv1alpha1.KafkaTopic {
	name := kafkatest.Name(e.t, "kt")
	if kafkatest.IsReal() {
		e.t.Cleanup(func() { deleteTopic(e.t, e.brokers, name) })
	}
	return &messagingv1alpha1.KafkaTopic{
		ObjectMeta: metav1.ObjectMeta{Name: "topic", Namespace: e.ns},
		Spec: messagingv1alpha1.KafkaTopicSpec{
			TopicName:      name,
			Partitions:     partitions,
			Config:         config,
			DeletionPolicy: policy,
		},
	}
}

func (e *env) create(kt *messagingv1alpha1.KafkaTopic) {
	e.t.Helper()
	if err := e.k8s.Create(e.t.Context(), kt); err != nil {
		e.t.Fatalf("create KafkaTopic: %v", err)
	}
}

// edit applies change to the current KafkaTopic and saves it.
func (e *env) edit(kt *messagingv1alpha1.KafkaTopic, change func(*messagingv1alpha1.KafkaTopic)) {
	e.t.Helper()
	kafkatest.Eventually(e.t, func() error {
		if err := e.k8s.Get(e.t.Context(), client.ObjectKeyFromObject(kt), kt); err != nil {
			return err
		}
		change(kt)
		return e.k8s.Update(e.t.Context(), kt) // a conflict retries with the fresh object
	})
}

// waitReady waits until the Ready condition of kt's current generation has
// status and reason, and returns the resource as it then is.
func (e *env) waitReady(kt *messagingv1alpha1.KafkaTopic, status metav1.ConditionStatus, reason string) *messagingv1alpha1.KafkaTopic {
	e.t.Helper()
	var got messagingv1alpha1.KafkaTopic
	kafkatest.Eventually(e.t, func() error {
		if err := e.k8s.Get(e.t.Context(), client.ObjectKeyFromObject(kt), &got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, messagingv1alpha1.ConditionReady)
		switch {
		case c == nil:
			return errors.New("no Ready condition yet")
		case got.Status.ObservedGeneration != got.Generation || c.ObservedGeneration != got.Generation:
			return fmt.Errorf("generation %d not observed yet (status %d)", got.Generation, got.Status.ObservedGeneration)
		case c.Status != status || c.Reason != reason:
			return fmt.Errorf("Ready is %s/%s (%s), want %s/%s", c.Status, c.Reason, c.Message, status, reason)
		}
		return nil
	})
	return &got
}

// kafkaTopic is a topic as Kafka reports it, read without the operator's
// code: partition count and the settings made on the topic itself.
type kafkaTopic struct {
	partitions int
	config     map[string]string
}

var errNoTopic = errors.New("topic does not exist")

func describe(ctx context.Context, brokers []string, name string) (kafkaTopic, error) {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: transport}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		return kafkaTopic{}, err
	}
	if len(md.Topics) != 1 || errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return kafkaTopic{}, errNoTopic
	}
	if md.Topics[0].Error != nil {
		return kafkaTopic{}, md.Topics[0].Error
	}
	res, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: name,
	}}})
	if err != nil {
		return kafkaTopic{}, err
	}
	t := kafkaTopic{partitions: len(md.Topics[0].Partitions), config: map[string]string{}}
	for _, r := range res.Resources {
		if r.Error != nil {
			return kafkaTopic{}, r.Error
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigSource == 1 { // DYNAMIC_TOPIC_CONFIG
				t.config[c.ConfigName] = c.ConfigValue
			}
		}
	}
	return t, nil
}

// waitKafka waits until Kafka reports the topic with partitions and
// exactly config.
func (e *env) waitKafka(name string, partitions int, config map[string]string) {
	e.t.Helper()
	kafkatest.Eventually(e.t, func() error {
		got, err := describe(e.t.Context(), e.brokers, name)
		if err != nil {
			return err
		}
		if got.partitions != partitions || !maps.Equal(got.config, config) {
			return fmt.Errorf("kafka has %d partitions, config %v; want %d, %v", got.partitions, got.config, partitions, config)
		}
		return nil
	})
}

func deleteTopic(t testing.TB, brokers []string, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: transport}
	res, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("delete topic %s: %v", name, err)
	}
}

func TestCreatesTopicWithPartitionsAndConfig(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	config := map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"}
	kt := e.topic(3, config, "")
	e.create(kt)

	got := e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 3, config)
	if got.Status.Partitions != 3 || got.Status.TopicName != kt.Spec.TopicName {
		t.Errorf("status = %+v, want 3 partitions of %s", got.Status, kt.Spec.TopicName)
	}
	// Defaults from the schema.
	if got.Spec.DeletionPolicy != messagingv1alpha1.DeletionPolicyRetain || got.Spec.ReplicationFactor != 1 {
		t.Errorf("defaults: deletionPolicy %q, replicationFactor %d; want Retain, 1", got.Spec.DeletionPolicy, got.Spec.ReplicationFactor)
	}
	if len(got.Finalizers) != 0 {
		t.Errorf("a Retain topic carries finalizers %v, want none", got.Finalizers)
	}

	// Each reconcile is a trace: its span is the parent of the Kafka
	// requests it made.
	var reconcile tracetest.SpanStub
	var creates []tracetest.SpanStub
	for _, s := range tracetest.SpanStubsFromReadOnlySpans(e.spans.Ended()) {
		switch s.Name {
		case "reconcile KafkaTopic":
			reconcile = s
		case "create_topics " + kt.Spec.TopicName:
			creates = append(creates, s)
		}
	}
	if len(creates) != 1 {
		t.Fatalf("%d create_topics spans, want 1", len(creates))
	}
	if !slices.ContainsFunc(tracetest.SpanStubsFromReadOnlySpans(e.spans.Ended()), func(s tracetest.SpanStub) bool {
		return s.Name == "reconcile KafkaTopic" && s.SpanContext.SpanID() == creates[0].Parent.SpanID()
	}) {
		t.Errorf("create_topics span is not a child of a reconcile span (last reconcile: %v)", reconcile.SpanContext.SpanID())
	}
}

func TestGrowsPartitionsButNeverShrinks(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	kt := e.topic(2, nil, "")
	e.create(kt)
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 2, map[string]string{})

	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Partitions = 4 })
	got := e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 4, map[string]string{})
	if got.Status.Partitions != 4 {
		t.Errorf("status.partitions = %d after growing, want 4", got.Status.Partitions)
	}

	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Partitions = 1 })
	got = e.waitReady(kt, metav1.ConditionFalse, messagingv1alpha1.ReasonPartitionDecreaseNotSupported)
	msg := meta.FindStatusCondition(got.Status.Conditions, messagingv1alpha1.ConditionReady).Message
	if !strings.Contains(msg, "cannot remove partitions") || !strings.Contains(msg, "4") {
		t.Errorf("condition message %q does not say why (Kafka cannot remove partitions, topic has 4)", msg)
	}
	if got.Status.Partitions != 4 {
		t.Errorf("status.partitions = %d after a shrink request, want the real 4", got.Status.Partitions)
	}
	e.waitKafka(kt.Spec.TopicName, 4, map[string]string{})

	// Back to a count Kafka can have: Ready again.
	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Partitions = 4 })
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
}

func TestAppliesConfigChanges(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	kt := e.topic(1, map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"}, "")
	e.create(kt)
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)

	// Change one setting, drop another (reset to the broker's default),
	// add a third.
	want := map[string]string{"retention.ms": "7200000", "max.message.bytes": "524288"}
	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Config = want })
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 1, want)

	// A setting Kafka does not accept: reported, not retried in a loop,
	// and nothing of the edit applied. kfake accepts any setting, so this
	// runs against the real broker (CI) only.
	if !kafkatest.IsReal() {
		return
	}
	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Config = map[string]string{"retention.ms": "soon"} })
	e.waitReady(kt, metav1.ConditionFalse, messagingv1alpha1.ReasonInvalidConfig)
	e.waitKafka(kt.Spec.TopicName, 1, want)
}

// TestRepairsDriftInKafka: changes made to a topic behind the operator's
// back (its settings altered, the topic deleted) are undone at the next
// resync, with no edit of the resource.
func TestRepairsDriftInKafka(t *testing.T) {
	e := startOperatorWith(t, kafkatest.Broker(t), func(c *app.Config) { c.ResyncPeriod = 100 * time.Millisecond })
	want := map[string]string{"retention.ms": "3600000"}
	kt := e.topic(2, want, "")
	e.create(kt)
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 2, want)

	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	admin := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 5 * time.Second, Transport: transport}
	res, err := admin.IncrementalAlterConfigs(t.Context(), &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: kt.Spec.TopicName,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{
				{Name: "retention.ms", Value: "1000", ConfigOperation: kafka.ConfigOperationSet},
				{Name: "cleanup.policy", Value: "compact", ConfigOperation: kafka.ConfigOperationSet},
			},
		}},
	})
	if err == nil {
		err = res.Resources[0].Error
	}
	if err != nil {
		t.Fatalf("alter the topic behind the operator's back: %v", err)
	}
	e.waitKafka(kt.Spec.TopicName, 2, want)

	// A record tells the recreated topic from the deleted one, which a
	// real broker may still list for a moment.
	kafkatest.Publish(t, e.brokers, kafka.Message{Topic: kt.Spec.TopicName, Key: []byte("k"), Value: []byte("v")})
	deleteTopic(t, e.brokers, kt.Spec.TopicName)
	kafkatest.Eventually(t, func() error {
		got, err := describe(t.Context(), e.brokers, kt.Spec.TopicName)
		if err != nil {
			return err
		}
		if got.partitions != 2 || !maps.Equal(got.config, want) {
			return fmt.Errorf("kafka has %d partitions, config %v", got.partitions, got.config)
		}
		offsets, err := admin.ListOffsets(t.Context(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			kt.Spec.TopicName: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)},
		}})
		if err != nil {
			return err
		}
		parts := offsets.Topics[kt.Spec.TopicName]
		if len(parts) != 2 {
			return fmt.Errorf("offsets of %d partitions, want 2", len(parts))
		}
		for _, p := range parts {
			if p.Error != nil {
				return p.Error
			}
			if p.LastOffset != 0 {
				return fmt.Errorf("partition %d ends at %d: the old topic, not recreated yet", p.Partition, p.LastOffset)
			}
		}
		return nil
	})
}

// TestAdoptsAnExistingTopic: a topic made before its KafkaTopic (by hand,
// by a former Job) is taken over as it is: grown to the spec, settings
// applied, and what cannot be changed reported.
func TestAdoptsAnExistingTopic(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	kt := e.topic(3, map[string]string{"retention.ms": "3600000"}, "")
	kt.Spec.ReplicationFactor = 2
	kafkatest.CreateTopic(t, e.brokers, kt.Spec.TopicName, 1) // replication factor 1
	e.create(kt)

	got := e.waitReady(kt, metav1.ConditionFalse, messagingv1alpha1.ReasonReplicationFactorMismatch)
	if msg := meta.FindStatusCondition(got.Status.Conditions, messagingv1alpha1.ConditionReady).Message; !strings.Contains(msg, "reassignment") {
		t.Errorf("condition message %q does not say why the replication factor stays", msg)
	}
	// The rest of the spec was applied all the same.
	e.waitKafka(kt.Spec.TopicName, 3, map[string]string{"retention.ms": "3600000"})
	if got.Status.Partitions != 3 {
		t.Errorf("status.partitions = %d, want 3", got.Status.Partitions)
	}
}

func TestDeletePolicyDeletesTheTopic(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	kt := e.topic(1, nil, messagingv1alpha1.DeletionPolicyDelete)
	e.create(kt)
	got := e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	if !slices.Contains(got.Finalizers, "messaging.vidstream.dev/delete-topic") {
		t.Fatalf("finalizers = %v, want the operator's", got.Finalizers)
	}
	e.waitKafka(kt.Spec.TopicName, 1, map[string]string{})

	if err := e.k8s.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	waitGone(t, e.k8s, got)
	kafkatest.Eventually(t, func() error {
		if _, err := describe(t.Context(), e.brokers, kt.Spec.TopicName); !errors.Is(err, errNoTopic) {
			return fmt.Errorf("topic still in Kafka (describe: %v)", err)
		}
		return nil
	})
}

func TestRetainPolicyKeepsTheTopic(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	kt := e.topic(2, map[string]string{"retention.ms": "3600000"}, messagingv1alpha1.DeletionPolicyRetain)
	e.create(kt)
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)

	// Switching policies moves the finalizer: on for Delete, off again
	// for Retain.
	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) {
		kt.Spec.DeletionPolicy = messagingv1alpha1.DeletionPolicyDelete
	})
	waitFinalizers(t, e.k8s, kt, true)
	e.edit(kt, func(kt *messagingv1alpha1.KafkaTopic) {
		kt.Spec.DeletionPolicy = messagingv1alpha1.DeletionPolicyRetain
	})
	waitFinalizers(t, e.k8s, kt, false)

	if err := e.k8s.Delete(t.Context(), kt); err != nil {
		t.Fatal(err)
	}
	waitGone(t, e.k8s, kt)
	// The resource is gone and the operator has nothing left to do:
	// the topic, its partitions and settings are still there.
	e.waitKafka(kt.Spec.TopicName, 2, map[string]string{"retention.ms": "3600000"})
}

func waitFinalizers(t *testing.T, c client.Client, kt *messagingv1alpha1.KafkaTopic, want bool) {
	t.Helper()
	kafkatest.Eventually(t, func() error {
		var got messagingv1alpha1.KafkaTopic
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(kt), &got); err != nil {
			return err
		}
		if has := slices.Contains(got.Finalizers, "messaging.vidstream.dev/delete-topic"); has != want {
			return fmt.Errorf("finalizers = %v, want the operator's: %v", got.Finalizers, want)
		}
		return nil
	})
}

func waitGone(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	kafkatest.Eventually(t, func() error {
		err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), &messagingv1alpha1.KafkaTopic{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("KafkaTopic still there (get: %v)", err)
	})
}

func TestRecoversWhenKafkaComesBack(t *testing.T) {
	cluster := kafkatest.NewCluster(t) // kfake always: stopping a shared broker would break other tests
	cluster.Stop()
	e := startOperator(t, cluster.Brokers())
	kt := e.topic(2, map[string]string{"retention.ms": "3600000"}, "")
	e.create(kt)

	got := e.waitReady(kt, metav1.ConditionFalse, messagingv1alpha1.ReasonKafkaUnavailable)
	if msg := meta.FindStatusCondition(got.Status.Conditions, messagingv1alpha1.ConditionReady).Message; !strings.Contains(msg, "retrying") {
		t.Errorf("condition message %q does not say the operator retries", msg)
	}

	cluster.Start()
	e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 2, map[string]string{"retention.ms": "3600000"})
}

// TestDeletionWaitsForKafka: a Delete resource removed while Kafka is down
// stays (held by its finalizer, its condition saying why) until the topic
// is really gone from Kafka.
func TestDeletionWaitsForKafka(t *testing.T) {
	cluster := kafkatest.NewCluster(t)
	e := startOperator(t, cluster.Brokers())
	kt := e.topic(1, nil, messagingv1alpha1.DeletionPolicyDelete)
	e.create(kt)
	got := e.waitReady(kt, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)
	e.waitKafka(kt.Spec.TopicName, 1, map[string]string{})

	cluster.Stop()
	if err := e.k8s.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, func() error {
		var cur messagingv1alpha1.KafkaTopic
		if err := e.k8s.Get(t.Context(), client.ObjectKeyFromObject(kt), &cur); err != nil {
			return fmt.Errorf("the resource went while Kafka was down: %w", err)
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, messagingv1alpha1.ConditionReady)
		if c == nil || c.Reason != messagingv1alpha1.ReasonKafkaUnavailable || !strings.Contains(c.Message, "deleting") {
			return fmt.Errorf("condition %+v, want KafkaUnavailable while deleting", c)
		}
		return nil
	})

	cluster.Start()
	waitGone(t, e.k8s, kt)
	kafkatest.Eventually(t, func() error {
		if _, err := describe(t.Context(), e.brokers, kt.Spec.TopicName); !errors.Is(err, errNoTopic) {
			return fmt.Errorf("topic still in Kafka (describe: %v)", err)
		}
		return nil
	})
}

// TestSchemaRejectsInvalidSpecs needs no operator: the API server itself
// refuses these, with the CRD's schema and CEL rules.
func TestSchemaRejectsInvalidSpecs(t *testing.T) {
	c := newClient(t, k8stest.Shared(t))
	ns := newNamespace(t, c)
	valid := func() *messagingv1alpha1.KafkaTopic {
		return &messagingv1alpha1.KafkaTopic{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Namespace: ns},
			Spec:       messagingv1alpha1.KafkaTopicSpec{Partitions: 1},
		}
	}
	for name, tc := range map[string]struct {
		change func(*messagingv1alpha1.KafkaTopic)
		want   string
	}{
		"zero partitions":          {func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Partitions = 0 }, "spec.partitions"},
		"negative partitions":      {func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.Partitions = -3 }, "spec.partitions"},
		"zero replication factor":  {func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.ReplicationFactor = -1 }, "spec.replicationFactor"},
		"unknown deletion policy":  {func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.DeletionPolicy = "Archive" }, "spec.deletionPolicy"},
		"topic name Kafka refuses": {func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.TopicName = "orders/v1" }, "spec.topicName"},
	} {
		t.Run(name, func(t *testing.T) {
			kt := valid()
			tc.change(kt)
			err := c.Create(t.Context(), kt)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v; want Invalid naming %s", err, tc.want)
			}
		})
	}

	t.Run("unknown field", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": messagingv1alpha1.GroupVersion.String(),
			"kind":       "KafkaTopic",
			"metadata":   map[string]any{"generateName": "t-", "namespace": ns},
			"spec":       map[string]any{"partitions": int64(1), "partitionz": int64(3)},
		}}
		err := c.Create(t.Context(), u)
		if err == nil || !strings.Contains(err.Error(), `unknown field "spec.partitionz"`) {
			t.Fatalf("create with spec.partitionz: %v; want an unknown field error", err)
		}
	})

	t.Run("immutable fields", func(t *testing.T) {
		kt := valid()
		kt.Spec.TopicName = "orders.v1"
		if err := c.Create(t.Context(), kt); err != nil {
			t.Fatal(err)
		}
		for field, change := range map[string]func(*messagingv1alpha1.KafkaTopic){
			"topicName is immutable":         func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.TopicName = "orders.v2" },
			"replicationFactor is immutable": func(kt *messagingv1alpha1.KafkaTopic) { kt.Spec.ReplicationFactor = 3 },
		} {
			edited := kt.DeepCopy()
			change(edited)
			if err := c.Update(t.Context(), edited); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), field) {
				t.Errorf("update: %v; want Invalid saying %q", err, field)
			}
		}
		// Growing partitions is an ordinary edit.
		edited := kt.DeepCopy()
		edited.Spec.Partitions = 5
		if err := c.Update(t.Context(), edited); err != nil {
			t.Errorf("update partitions 1 → 5: %v", err)
		}
	})
}

func TestWaitReady(t *testing.T) {
	e := startOperator(t, kafkatest.Broker(t))
	a, b := e.topic(1, nil, ""), e.topic(1, nil, "")
	a.Name, b.Name = "a", "b"
	e.create(a)
	e.waitReady(a, metav1.ConditionTrue, messagingv1alpha1.ReasonReconciled)

	// b does not exist: the wait times out naming it, not a.
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	// An interval under the client's default rate limit (5 requests/s).
	err := app.WaitReady(ctx, e.k8s, e.ns, []string{"a", "b"}, 500*time.Millisecond, &progress)
	if err == nil || !strings.Contains(err.Error(), "[b]") {
		t.Fatalf("WaitReady with b missing: %v; want an error naming only b; progress:\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "kafkatopic "+e.ns+"/b: not found") {
		t.Errorf("progress does not say b is missing:\n%s", progress.String())
	}

	e.create(b)
	progress.Reset()
	if err := app.WaitReady(t.Context(), e.k8s, e.ns, []string{"a", "b"}, 500*time.Millisecond, &progress); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		if !strings.Contains(progress.String(), "kafkatopic "+e.ns+"/"+name+": ready (1 partitions)") {
			t.Errorf("progress does not report %s ready:\n%s", name, progress.String())
		}
	}
}
