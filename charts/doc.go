// Package charts holds the tests of the Helm charts in this folder: the
// vidstream umbrella chart (charts/vidstream) with its service and
// infrastructure subcharts.
//
// The tests render the umbrella in-process with the Helm SDK for each
// scenario in charts/vidstream/ci (the defaults, all infrastructure
// switched off, tracing off, the topic operator off) and check what
// Kubernetes would run: every container hardened and sized, the
// NetworkPolicies allowing exactly the flows of docs/architecture.md, the KafkaTopics
// and the services' waits for them, the memory budget, no secret in any
// values.yaml. With
// KUBEBUILDER_ASSETS pointing at a kube-apiserver and etcd (hack/k8s-tools.sh
// builds them), every rendered object is also created on a real API server,
// which validates it strictly and runs admission, Pod Security included.
package charts
