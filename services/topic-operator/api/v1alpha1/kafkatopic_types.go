package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeletionPolicy says what happens to the Kafka topic when its KafkaTopic is
// deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the topic and its records in Kafka. The
	// default: deleting a resource (or uninstalling a chart) must not
	// destroy data by accident.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete deletes the topic from Kafka before the resource
	// goes away (the operator holds a finalizer until it has).
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// KafkaTopicSpec is the desired state of a Kafka topic.
//
// +kubebuilder:validation:XValidation:rule="has(self.topicName) == has(oldSelf.topicName)",message="topicName cannot be added or removed once set"
type KafkaTopicSpec struct {
	// TopicName is the topic's name in Kafka; metadata.name when empty.
	// Set it for names Kubernetes does not accept (upper case,
	// underscores). Immutable: Kafka cannot rename a topic.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9._-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="topicName is immutable: Kafka cannot rename a topic"
	TopicName string `json:"topicName,omitempty"`

	// Partitions is the topic's partition count. It can grow (keys then map
	// to other partitions, so per-key order holds only from then on) but
	// never shrink: Kafka cannot remove partitions, and the operator says
	// so in the Ready condition instead.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Partitions int32 `json:"partitions"`

	// ReplicationFactor is the number of copies of each partition.
	// Immutable: changing it needs a partition reassignment, which this
	// operator does not do.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32767
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="replicationFactor is immutable: it needs a partition reassignment"
	ReplicationFactor int32 `json:"replicationFactor,omitempty"`

	// Config holds topic-level settings (retention.ms, cleanup.policy, ...).
	// It is the whole truth: a setting removed here is reset to the
	// broker's default in Kafka.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Config map[string]string `json:"config,omitempty"`

	// DeletionPolicy says whether deleting this resource deletes the topic
	// (Delete) or leaves it in Kafka (Retain, the default).
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// KafkaTopicStatus is the observed state of a Kafka topic.
type KafkaTopicStatus struct {
	// ObservedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// TopicName is the name of the topic in Kafka.
	// +optional
	TopicName string `json:"topicName,omitempty"`

	// Partitions is the partition count the topic has in Kafka.
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// Conditions: Ready is True when the topic exists in Kafka with the
	// spec's partitions and config; otherwise its reason says why.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// The Ready condition and its reasons.
const (
	ConditionReady = "Ready"

	// ReasonReconciled: the topic matches the spec.
	ReasonReconciled = "Reconciled"
	// ReasonKafkaUnavailable: the brokers could not be reached or did not
	// answer; the operator retries with backoff.
	ReasonKafkaUnavailable = "KafkaUnavailable"
	// ReasonPartitionDecreaseNotSupported: spec.partitions is below the
	// topic's partition count, which Kafka cannot lower.
	ReasonPartitionDecreaseNotSupported = "PartitionDecreaseNotSupported"
	// ReasonReplicationFactorMismatch: the topic exists with another
	// replication factor than the spec's.
	ReasonReplicationFactorMismatch = "ReplicationFactorMismatch"
	// ReasonInvalidConfig: Kafka rejected the spec (a setting or value it
	// does not know, or a replication factor above the broker count).
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonKafkaError: Kafka answered with an error not covered above.
	ReasonKafkaError = "KafkaError"
	// ReasonDeleting: the topic is being deleted from Kafka.
	ReasonDeleting = "Deleting"
)

// KafkaTopic declares a Kafka topic: its partitions, replication factor,
// settings and what happens to it when the resource is deleted.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kt,categories=vidstream
// +kubebuilder:printcolumn:name="Topic",type=string,JSONPath=`.status.topicName`
// +kubebuilder:printcolumn:name="Partitions",type=integer,JSONPath=`.status.partitions`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KafkaTopicSpec   `json:"spec"`
	Status KafkaTopicStatus `json:"status,omitempty"`
}

// TopicName returns the topic's name in Kafka: spec.topicName, else
// metadata.name.
func (t *KafkaTopic) TopicName() string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Name
}

// KafkaTopicList is a list of KafkaTopic.
//
// +kubebuilder:object:root=true
type KafkaTopicList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KafkaTopic `json:"items"`
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &KafkaTopic{}, &KafkaTopicList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
