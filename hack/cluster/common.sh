# shellcheck shell=bash
# Shared by hack/cluster-*.sh: where the real single-node cluster keeps its
# state, its ports and names, and small helpers. Sourced, never run.
#
# The cluster is one per machine: it owns a bridge, iptables chains and
# sysctls, and listens on the fixed ports below (none of them one that
# `make run`, the test servers or envtest use).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The Go release the Makefile pins, also when a script is run directly: a
# different one would rebuild every tool (and miss the build cache).
if [[ -z "${GOTOOLCHAIN:-}" ]]; then
	GOTOOLCHAIN="$(sed -n 's/^export GOTOOLCHAIN ?= //p' "$root/Makefile")"
	export GOTOOLCHAIN
fi
# Binaries: hack/k8s-tools.sh builds them (`hack/k8s-tools.sh kube etcd helm cluster`).
bin="${K8S_TOOLS_BIN:-$root/hack/tools/bin/k8s}"
# Everything a running cluster has: certificates, etcd's data, containerd's
# images and containers, kubelet's pods, logs, pids. cluster-down.sh removes it.
state="${CLUSTER_STATE:-$root/.cache/cluster/run}"
# What outlives a cluster: the registry's blobs and the Debian root
# filesystems of the infrastructure images (hack/cluster-images.sh).
cache="${CLUSTER_CACHE:-$root/.cache/cluster/cache}"

node_name=vidstream-node
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
api_service_ip=10.96.0.1
dns_service_ip=10.96.0.10
bridge=vidstream0
cni_network=vidstream-cluster

# Fixed ports (127.0.0.1 unless the node address is said).
registry_addr=127.0.0.1:15000
etcd_client_port=12379
etcd_peer_port=12380
apiserver_port=16443          # all addresses: pods reach it through the node address
kcm_port=20257
scheduler_port=20259
kubelet_port=20250            # the node address: the API server's logs, exec, port-forward
kubelet_healthz_port=20248
proxy_metrics_port=20249
proxy_healthz_port=20256

kubeconfig="$state/pki/admin.kubeconfig"

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# node_ip: the address pods and the API server reach this node at (the one
# the default route leaves from).
node_ip() {
	ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i == "src") { print $(i + 1); exit }}'
}

kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

ctr_k8s() { ctr --address "$state/containerd/containerd.sock" --namespace k8s.io "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND every half second
# until it succeeds; fail after SECONDS.
wait_for() {
	local what="$1" timeout="$2" start=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS - start >= timeout)); then
			log "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}

# pid_alive NAME: whether the process started as NAME still runs.
pid_alive() {
	local f="$state/pids/$1.pid"
	[[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}
