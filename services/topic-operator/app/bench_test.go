package app_test

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vidstream/vidstream/services/internal/k8stest"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	"github.com/vidstream/vidstream/services/topic-operator/app"
)

// BenchmarkCreateTopic measures what declaring a topic costs over creating
// it: "direct" is the baseline, one kafka-go CreateTopics request per
// topic; "operator" creates a KafkaTopic and waits (on a watch, not a
// poll) until the operator reports it Ready, which adds the API server
// round trips, the informer, the work queue, a describe of the topic and a
// status update. docs/benchmarks.md has figures and the command.
func BenchmarkCreateTopic(b *testing.B) {
	brokers := kafkatest.Broker(b)

	b.Run("direct", func(b *testing.B) {
		transport := &kafka.Transport{}
		defer transport.CloseIdleConnections()
		c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}
		b.ReportAllocs()
		for b.Loop() {
			name := kafkatest.Name(b, "bench")
			res, err := c.CreateTopics(b.Context(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
				Topic: name, NumPartitions: 1, ReplicationFactor: 1,
			}}})
			if err == nil {
				err = res.Errors[name]
			}
			if err != nil {
				b.Fatal(err)
			}
			if kafkatest.IsReal() {
				b.Cleanup(func() { deleteTopic(b, brokers, name) })
			}
		}
	})

	b.Run("operator", func(b *testing.B) {
		e := startOperator(b, brokers)
		wc, err := client.NewWithWatch(k8stest.Shared(b), client.Options{Scheme: app.Scheme()})
		if err != nil {
			b.Fatal(err)
		}
		w, err := wc.Watch(b.Context(), &messagingv1alpha1.KafkaTopicList{}, client.InNamespace(e.ns))
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			kt := e.topic(1, nil, "")
			kt.Name = fmt.Sprintf("t%d", i)
			i++
			e.create(kt)
			waitReadyEvent(b, w, kt.Name)
		}
	})
}

// waitReadyEvent reads w until the KafkaTopic name is Ready.
func waitReadyEvent(b *testing.B, w watch.Interface, name string) {
	b.Helper()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch closed")
			}
			kt, isTopic := ev.Object.(*messagingv1alpha1.KafkaTopic)
			if !isTopic || kt.Name != name {
				continue
			}
			if meta.IsStatusConditionPresentAndEqual(kt.Status.Conditions, messagingv1alpha1.ConditionReady, metav1.ConditionTrue) {
				return
			}
		case <-b.Context().Done():
			b.Fatal(b.Context().Err())
		}
	}
}
