#!/usr/bin/env bash
# Starts a real single-node Kubernetes cluster as processes of this machine,
# no Docker and no image registry on the internet needed:
#
#   registry                 127.0.0.1:15000, the cluster's images (hack/cluster-images.sh)
#   containerd + runc        Debian's packages, a config and socket of its own
#   etcd                     127.0.0.1:12379
#   kube-apiserver           :16443, RBAC + Node authorization, NodeRestriction
#   kube-controller-manager  127.0.0.1:20257, with service account credentials
#   kube-scheduler           127.0.0.1:20259
#   kubelet                  node "vidstream-node", cgroupfs, on containerd
#   kube-proxy               iptables mode
#   bridge CNI               bridge vidstream0, pods in 10.244.0.0/24
#   CoreDNS                  10.96.0.10, as a Deployment
#   local volumes            a default StorageClass and PersistentVolumes
#
# Kubernetes v1.37.2 binaries come from hack/k8s-tools.sh (built from the Go
# module proxy and cached), certificates are made fresh on every start
# (hack/cluster/pki.sh), state lives in .cache/cluster/run, and
# hack/cluster-down.sh removes all of it: processes by pid, containers,
# network namespaces, the bridge, iptables chains, cgroups, mounts, sysctls.
# If starting fails, this script runs cluster-down itself.
#
# Needs root (containerd, iptables, mounts). Installs containerd, runc, the
# CNI plugins, iptables and conntrack with apt when missing.
#
# Usage: hack/cluster-up.sh      then: export KUBECONFIG=.cache/cluster/run/pki/admin.kubeconfig
set -euo pipefail

# shellcheck source=hack/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
# shellcheck source=hack/cluster/pki.sh
source "$root/hack/cluster/pki.sh"

t0=$SECONDS
elapsed() { log "$* ($((SECONDS - t0))s)"; }

preflight() {
	((EUID == 0)) || die "needs root (containerd, iptables, network namespaces, mounts)"
	local missing=() cmd
	for cmd in containerd runc ctr iptables conntrack ip openssl; do
		command -v "$cmd" >/dev/null || missing+=("$cmd")
	done
	[[ -x /usr/lib/cni/bridge ]] || missing+=(cni-plugins)
	if ((${#missing[@]})); then
		log "installing containerd, runc, the CNI plugins, iptables, conntrack (missing: ${missing[*]}) ..."
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins \
			iptables conntrack iproute2 openssl >&2
	fi
	local b
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl vidstream-cluster; do
		[[ -x "$bin/$b" ]] || die "$bin/$b missing: run hack/k8s-tools.sh kube etcd cluster"
	done
	if [[ -e "$state/pids" ]] && compgen -G "$state/pids/*.pid" >/dev/null; then
		die "a cluster is running (or was not cleaned up): hack/cluster-down.sh first"
	fi
	if ip link show "$bridge" >/dev/null 2>&1; then
		die "bridge $bridge exists: another cluster runs, or hack/cluster-down.sh did not finish"
	fi
	[[ -d /proc/sys/net/bridge ]] || die "the br_netfilter module is not loaded (modprobe br_netfilter)"
}

# start NAME COMMAND...: run COMMAND in the background, in a session of its
# own (so a Ctrl-C of this script does not reach it), logging to
# logs/NAME.log; its pid goes to pids/NAME.pid for cluster-down.
start() {
	local name="$1"
	shift
	setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$state/pids/$name.pid"
}

# check_alive NAME: fail with the end of its log if NAME exited.
check_alive() {
	pid_alive "$1" && return 0
	log "$1 exited; the end of $state/logs/$1.log:"
	tail -n 30 "$state/logs/$1.log" >&2
	return 1
}

# wait_started NAME SECONDS COMMAND...: wait_for, failing early if NAME dies.
wait_started() {
	local name="$1" timeout="$2" t=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		check_alive "$name" || return 1
		((SECONDS - t < timeout)) || {
			log "$name not ready after ${timeout}s; the end of its log:"
			tail -n 30 "$state/logs/$name.log" >&2
			return 1
		}
		sleep 0.5
	done
}

# Host settings the cluster needs. The previous values are saved and put
# back by cluster-down.
host_network() {
	local key
	: >"$state/sysctl.saved"
	# kube-proxy sets route_localnet (NodePorts on 127.0.0.1).
	for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables \
		net.ipv4.conf.all.route_localnet; do
		echo "$key=$(sysctl -n "$key")" >>"$state/sysctl.saved"
	done
	sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
	# The bridge is made here rather than by the CNI plugin, so that the
	# service range can be routed to it: a connection to a ClusterIP that
	# kube-proxy has not (or no longer) translated then stays on this
	# machine instead of leaving by the default route.
	ip link add "$bridge" type bridge
	ip link set "$bridge" up
	ip route add "$service_cidr" dev "$bridge"
}

write_configs() {
	local ip="$1"
	mkdir -p "$state/containerd/certs.d/$registry_addr" "$state/cni/net.d" "$state/kubelet" "$state/podlogs" "$state/volumes"
	cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$state/containerd/containerd.sock"
[ttrpc]
  address = "$state/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  # Built by hack/cluster-images.sh: no registry to pull registry.k8s.io/pause from.
  sandbox_image = "$registry_addr/cluster/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  # The capability bounding set of this kind of machine lacks
  # CAP_SYS_RESOURCE: without this, runc cannot set a container's
  # oom_score_adj and every sandbox fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$state/containerd/certs.d"
EOF
	# The local registry speaks plain HTTP.
	cat >"$state/containerd/certs.d/$registry_addr/hosts.toml" <<EOF
server = "http://$registry_addr"
[host."http://$registry_addr"]
  capabilities = ["pull", "resolve"]
EOF
	# firewall: accepts the pods' traffic in FORWARD even where another
	# program (Docker's daemon) set its policy to DROP.
	cat >"$state/cni/net.d/10-vidstream.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$cni_network",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$state/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"},
    {"type": "loopback"}
  ]
}
EOF
	cat >"$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This kind of machine has cgroup v1, which kubelets from 1.35 on refuse
# unless told; there is no systemd to delegate cgroups to.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
address: $ip
port: $kubelet_port
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$dns_service_ip]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
failSwapOn: false
podLogsDir: $state/podlogs
# A shared developer disk is often fuller than a dedicated node's: evict
# only when it is really full, and never collect the images the cluster
# cannot pull again without hack/cluster-images.sh.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 110
serializeImagePulls: false
EOF
	cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/pki/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $pod_cidr
metricsBindAddress: 127.0.0.1:$proxy_metrics_port
healthzBindAddress: 127.0.0.1:$proxy_healthz_port
hostnameOverride: $node_name
# Leave the machine's conntrack table size alone.
conntrack: {maxPerCore: 0}
EOF
}

# on_failure: say what went wrong, then tear down (unless
# CLUSTER_KEEP_ON_FAILURE=1, to look around).
on_failure() {
	log "start failed"
	if pid_alive kube-apiserver; then
		kc get pods -A -o wide >&2 2>&1
		kc get events -A --sort-by .lastTimestamp 2>&1 | tail -n 20 >&2
	fi
	local f
	for f in kubelet containerd; do
		[[ -f "$state/logs/$f.log" ]] || continue
		log "the end of $f's log:"
		grep -iE 'error|fail' "$state/logs/$f.log" | tail -n 15 >&2
	done
	if [[ "${CLUSTER_KEEP_ON_FAILURE:-}" == 1 ]]; then
		log "left running (CLUSTER_KEEP_ON_FAILURE=1): hack/cluster-down.sh removes it"
		return
	fi
	"$root/hack/cluster-down.sh" || true
}

main() {
	preflight
	mkdir -p "$state"/{logs,pids,pki} "$cache"
	# From here on, a failure tears down whatever was started.
	trap 'rc=$?; if ((rc != 0)); then on_failure; fi; exit $rc' EXIT

	local ip
	ip="$(node_ip)"
	[[ -n "$ip" ]] || die "no node address (no default route?)"
	echo "$ip" >"$state/node-ip"
	pki_generate
	host_network
	write_configs "$ip"
	elapsed "certificates and configuration in $state"

	start registry "$bin/vidstream-cluster" registry -addr "$registry_addr" -dir "$cache/registry" \
		-addr-file "$state/registry.addr"
	wait_started registry 10 test -s "$state/registry.addr"
	start containerd containerd --config "$state/containerd/config.toml"
	wait_started containerd 30 ctr --address "$state/containerd/containerd.sock" version
	elapsed "registry and containerd up"
	# The pause image must be there before the first pod, CoreDNS's for
	# the first one.
	"$root/hack/cluster-images.sh" pause coredns >&2

	start etcd "$bin/etcd" --name vidstream --data-dir "$state/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_client_port" --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "vidstream=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" \
		--unsafe-no-fsync --log-level warn
	local p="$state/pki"
	start kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_client_port" \
		--secure-port "$apiserver_port" --advertise-address "$ip" \
		--service-cluster-ip-range "$service_cidr" --service-node-port-range 30000-32767 \
		--client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP \
		--allow-privileged=true --profiling=false
	wait_started kube-apiserver 120 kc get --raw /readyz
	elapsed "etcd and kube-apiserver ready"

	start kube-controller-manager "$bin/kube-controller-manager" \
		--kubeconfig "$p/kube-controller-manager.kubeconfig" \
		--authentication-kubeconfig "$p/kube-controller-manager.kubeconfig" \
		--authorization-kubeconfig "$p/kube-controller-manager.kubeconfig" \
		--cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" --root-ca-file "$p/ca.crt" \
		--service-account-private-key-file "$p/sa.key" --use-service-account-credentials \
		--service-cluster-ip-range "$service_cidr" --cluster-name vidstream \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" --leader-elect=false --profiling=false
	start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$p/kube-scheduler.kubeconfig" \
		--authentication-kubeconfig "$p/kube-scheduler.kubeconfig" --authorization-kubeconfig "$p/kube-scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$scheduler_port" --leader-elect=false --profiling=false
	start kubelet "$bin/kubelet" --config "$state/kubelet/config.yaml" --kubeconfig "$p/kubelet.kubeconfig" \
		--root-dir "$state/kubelet" --hostname-override "$node_name" --node-ip "$ip" --v 1
	start kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml"
	wait_started kubelet 120 kc wait --for condition=Ready "node/$node_name" --timeout 2s
	check_alive kube-controller-manager
	check_alive kube-scheduler
	check_alive kube-proxy
	elapsed "node $node_name Ready"

	sed -e "s|@REGISTRY@|$registry_addr|g" -e "s|@DNS_IP@|$dns_service_ip|g" "$root/k8s/cluster/coredns.yaml" | kc apply -f - >/dev/null
	local i
	for i in 1 2 3 4 5 6 7 8; do
		mkdir -p "$state/volumes/pv$i"
	done
	sed -e "s|@VOLUMES@|$state/volumes|g" -e "s|@NODE@|$node_name|g" "$root/k8s/cluster/storage.yaml" | kc apply -f - >/dev/null
	kc -n kube-system rollout status deployment/coredns --timeout 120s >/dev/null
	elapsed "CoreDNS ready; the cluster is up"
	trap - EXIT
	echo "export KUBECONFIG=$kubeconfig"
}

main "$@"
