// Package clustertest checks vidstream as `helm install` runs it on a real
// Kubernetes cluster: requests through the cluster's Services, one trace
// per request in the in-cluster Jaeger, exported through the in-cluster
// collector, each pod's memory against its request, and a `helm upgrade`
// that rolls every service while traffic flows without failing a request.
//
// It holds tests only, and they skip unless VIDSTREAM_CLUSTER_KUBECONFIG
// names the cluster: hack/cluster-test.sh (`make cluster-test`) starts one
// (hack/cluster-up.sh), installs the chart and runs them.
package clustertest
