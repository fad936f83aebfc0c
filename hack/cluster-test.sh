#!/usr/bin/env bash
# `make cluster-test`: the delivery path on a real cluster, start to finish.
#
#   tools      hack/k8s-tools.sh: Kubernetes, etcd, Helm, skaffold, the
#              collector, Jaeger, CoreDNS, the registry (cached)
#   up         hack/cluster-up.sh: a single-node cluster on this machine
#   images     hack/cluster-images.sh: every image the chart runs, pushed to
#              the cluster's registry
#   install    helm install --wait of charts/vidstream with its defaults
#              (NetworkPolicies on), images from k8s/cluster/values.yaml
#   helm-test  helm test: each service's /readyz through its Service, every
#              KafkaTopic Ready, RabbitMQ answering AMQP, Redis answering
#              PING to its password only
#   system     services/clustertest (Go): loadgen demo through NodePorts,
#              the PUT trace in the in-cluster Jaeger across watch-history,
#              user and video over HTTP, gRPC and Kafka, via the collector;
#              each pod's memory against its request; helm upgrade with a
#              changed value under load, without a failed request
#   uninstall  helm uninstall; nothing of the release is left but what the
#              chart documents it keeps (data volumes, database and broker
#              passwords, the CRD)
#   skaffold   skaffold run -p cluster: skaffold.yaml builds every artifact
#              (hack/skaffold-build.sh), pushes and deploys it; skaffold delete
#   down       hack/cluster-down.sh (also on failure or interrupt)
#
# Each step is timed; the summary lists them. Needs root. Binds the
# cluster's fixed ports (hack/cluster/common.sh), so only one runs per
# machine at a time.
#
# Usage: hack/cluster-test.sh [--keep]   (--keep: leave the cluster running)
set -euo pipefail

# shellcheck source=hack/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"

keep=
[[ "${1:-}" == --keep ]] && keep=1

release=vidstream
namespace=vidstream
export KUBECONFIG="$kubeconfig"
# Helm's own folders, out of the user's home.
export HELM_CACHE_HOME="$root/.cache/cluster/helm/cache" HELM_CONFIG_HOME="$root/.cache/cluster/helm/config" \
	HELM_DATA_HOME="$root/.cache/cluster/helm/data"
helm="$bin/helm"
values=(-f "$root/k8s/cluster/values.yaml" -f "$state/images/values.yaml")

summary=()
total=$SECONDS
step() {
	local name="$1" t=$SECONDS rc=0
	shift
	echo
	echo "---- cluster-test: $name ($(date -u +%H:%M:%S))"
	"$@" || rc=$?
	summary+=("$(printf '%-10s %-6s %5ss' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAILED)" "$((SECONDS - t))")")
	echo "---- cluster-test: $name: $([[ $rc == 0 ]] && echo ok || echo "FAILED ($rc)") in $((SECONDS - t))s"
	return "$rc"
}

finish() {
	local rc=$?
	set +e
	if [[ -d "$state" ]] && { [[ -z "$keep" ]] || ((rc != 0)); }; then
		if ((rc != 0)); then
			diagnose
		fi
		step down "$root/hack/cluster-down.sh"
	fi
	echo
	echo "---- cluster-test summary"
	local line
	for line in "${summary[@]}"; do echo "  $line"; done
	echo "  total      $((SECONDS - total))s"
	exit "$rc"
}
trap finish EXIT

# diagnose: what a failed run needs to be understood from CI's log alone.
diagnose() {
	echo "---- cluster-test: diagnostics"
	kc get nodes -o wide 2>&1
	kc get pods -A -o wide 2>&1
	kc -n "$namespace" get events --sort-by .lastTimestamp 2>&1 | tail -n 40
	local p
	for p in $(kc -n "$namespace" get pods -o name 2>/dev/null); do
		if ! kc -n "$namespace" get "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True; then
			echo "-- $p"
			kc -n "$namespace" describe "$p" 2>&1 | tail -n 25
			kc -n "$namespace" logs "$p" --all-containers --tail 30 2>&1
		fi
	done
	for p in kubelet kube-apiserver containerd; do
		echo "-- $p log (last 15 lines)"
		tail -n 15 "$state/logs/$p.log" 2>&1
	done
}

install() {
	local t=$SECONDS
	"$helm" install "$release" "$root/charts/vidstream" -n "$namespace" --create-namespace \
		"${values[@]}" --wait --timeout 10m
	echo "all pods Ready $((SECONDS - t))s after helm install started:"
	kc -n "$namespace" get pods -o wide
}

helm_test() {
	# No --logs: the chart deletes test pods that succeeded.
	"$helm" test "$release" -n "$namespace" --timeout 5m
}

system() {
	VIDSTREAM_CLUSTER_KUBECONFIG="$kubeconfig" VIDSTREAM_CLUSTER_NAMESPACE="$namespace" \
		VIDSTREAM_CLUSTER_RELEASE="$release" VIDSTREAM_CLUSTER_BIN="$bin" \
		VIDSTREAM_CLUSTER_VALUES="$root/k8s/cluster/values.yaml,$state/images/values.yaml" \
		go test -count=1 -timeout 20m -run '^TestCluster$' -v ./services/clustertest
}

# uninstall: after `helm uninstall`, only what the chart says it keeps may
# remain in the namespace (docs/kubernetes.md): the data volumes' claims,
# the database and broker passwords (resource policy keep), the CRD, and the topic
# operator's leader-election Lease (made by the operator at run time, so
# Helm does not know it). Then those go too and the namespace must empty.
uninstall() {
	"$helm" uninstall "$release" -n "$namespace" --wait --timeout 5m
	# Helm waits for the workloads; their pods are deleted after them.
	kc -n "$namespace" wait --for=delete pod --all --timeout 3m
	local kinds left unexpected
	kinds="$(kc api-resources --verbs list --namespaced -o name | grep -vE '^(events|events.events.k8s.io)$' | paste -sd, -)"
	# Objects Kubernetes itself puts in every namespace are not the release's.
	left="$(kc -n "$namespace" get "$kinds" -o name 2>/dev/null |
		grep -vE '^(serviceaccount/default|configmap/kube-root-ca.crt)$' || true)"
	echo "left in namespace $namespace after helm uninstall:"
	echo "${left:-  (nothing)}" | sed 's/^/  /'
	unexpected="$(echo "$left" | grep -vE '^(persistentvolumeclaim/data-vidstream-(kafka|postgresql|rabbitmq)-0|secret/vidstream-(postgresql(-[a-z-]+)?|rabbitmq)|lease.coordination.k8s.io/topic-operator.messaging.vidstream.dev)$' | grep . || true)"
	if [[ -n "$unexpected" ]]; then
		echo "not documented as kept:"
		echo "$unexpected"
		return 1
	fi
	kc get crd kafkatopics.messaging.vidstream.dev -o name
	# What the docs tell users to delete to start afresh.
	kc -n "$namespace" delete pvc,secret,lease --all --wait --timeout 2m >/dev/null
	kc delete namespace "$namespace" --wait --timeout 2m
	kc delete crd kafkatopics.messaging.vidstream.dev --wait --timeout 1m
	if kc get pods -A --no-headers 2>/dev/null | grep -v '^kube-system '; then
		echo "pods left outside kube-system"
		return 1
	fi
}

# skaffold: skaffold.yaml's "cluster" profile builds the service images
# with hack/skaffold-build.sh, pushes them to the cluster's registry and
# deploys the chart with them; skaffold waits for every workload. Until
# services/transcoder exists, without the transcoder (and the job queue).
skaffold_run() {
	local profiles=cluster
	[[ -f "$root/services/transcoder/main.go" ]] || profiles=cluster,without-transcoder
	local sk=("$bin/skaffold" --kube-context vidstream-cluster -p "$profiles" --default-repo "$registry_addr"
		--kubeconfig "$kubeconfig")
	SKAFFOLD_UPDATE_CHECK=false SKAFFOLD_DETECT_MINIKUBE=false PATH="$bin:$PATH" \
		"${sk[@]}" run --status-check=true --port-forward=off
	kc -n "$namespace" get pods -o wide
	SKAFFOLD_UPDATE_CHECK=false PATH="$bin:$PATH" "${sk[@]}" delete
	kc -n "$namespace" delete pvc,secret,lease --all --wait --timeout 2m >/dev/null
	kc delete namespace "$namespace" --wait --timeout 2m
}

step tools "$root/hack/k8s-tools.sh" kube etcd helm skaffold otelcol jaeger cluster
step up "$root/hack/cluster-up.sh"
step images "$root/hack/cluster-images.sh"
step install install
step helm-test helm_test
step system system
step uninstall uninstall
step skaffold skaffold_run
