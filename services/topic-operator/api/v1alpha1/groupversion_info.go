// Package v1alpha1 holds the messaging.vidstream.dev/v1alpha1 API: the
// KafkaTopic resource, which declares a Kafka topic in git next to the
// charts for the topic operator to reconcile.
//
// +kubebuilder:object:generate=true
// +groupName=messaging.vidstream.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "messaging.vidstream.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme.
	// apimachinery's, not controller-runtime's: an API package should
	// be importable with no more than apimachinery.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
