#!/usr/bin/env bash
# Stops the cluster of hack/cluster-up.sh and removes everything it left on
# the machine, whatever state it is in (also after a failed start, and when
# run twice):
#
#   1. pods: the node is cordoned and every pod deleted, so the kubelet
#      stops each sandbox the normal way (CNI DEL: veths, IPs, the bridge
#      plugin's NAT chains, portmap and firewall rules)
#   2. processes: each component by the pid it was started with (SIGTERM,
#      then SIGKILL after a grace period)
#   3. containers: whatever containerd still runs is killed and deleted,
#      then containerd itself stops
#   4. leftovers of an unclean stop: network namespaces of the sandboxes,
#      the bridge, the route of the service range, iptables chains and
#      rules (kube-proxy's, the kubelet's, the CNI plugins'), pod cgroups,
#      mounts under the state folder, the sysctls cluster-up changed
#   5. the state folder (the image cache in .cache/cluster/cache stays)
#
# Prints what it had to clean up by force. Usage: hack/cluster-down.sh
set -uo pipefail

# shellcheck source=hack/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"

((EUID == 0)) || die "needs root"

sock="$state/containerd/containerd.sock"

# stop_pid NAME: SIGTERM, up to 20 s, then SIGKILL.
stop_pid() {
	local f="$state/pids/$1.pid" pid i
	[[ -f "$f" ]] || return 0
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		for ((i = 0; i < 40; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$1 (pid $pid) ignored SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	rm -f "$f"
}

# drain_pods: let the kubelet tear every pod down through CNI while it and
# the API server still run.
drain_pods() {
	pid_alive kube-apiserver && pid_alive kubelet && pid_alive containerd || return 0
	kc cordon "$node_name" >/dev/null 2>&1 || return 0
	kc delete pods --all --all-namespaces --grace-period 0 --force --wait=false >/dev/null 2>&1
	local t=$SECONDS
	# A sandbox's task goes away once the kubelet stopped it.
	while [[ -n "$(ctr_k8s tasks ls -q 2>/dev/null)" ]]; do
		if ((SECONDS - t > 90)); then
			log "pods still running after 90s; removing them by force"
			return 0
		fi
		sleep 1
	done
}

# Network namespaces of the sandboxes, recorded before containerd goes: a
# sandbox removed without CNI DEL leaves its namespace (and veth) behind.
sandbox_netns() {
	local id
	for id in $(ctr_k8s containers ls -q 2>/dev/null); do
		ctr_k8s containers info "$id" 2>/dev/null |
			grep -o '"path": "/[^"]*netns/cni-[^"]*"' | cut -d'"' -f4
	done | sort -u
}

remove_containers() {
	[[ -S "$sock" ]] && pid_alive containerd || return 0
	local id n=0
	for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
		ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1
		n=$((n + 1))
	done
	((n == 0)) || log "killed $n container(s) the kubelet had not stopped"
	local t=$SECONDS
	while [[ -n "$(ctr_k8s tasks ls -q 2>/dev/null | head -n1)" ]] && ((SECONDS - t < 20)); do
		for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
			ctr_k8s tasks delete -f "$id" >/dev/null 2>&1
		done
		sleep 0.5
	done
	for id in $(ctr_k8s containers ls -q 2>/dev/null); do
		ctr_k8s containers delete "$id" >/dev/null 2>&1
	done
}

# iptables rules and chains the cluster's programs add: kube-proxy removes
# its own (KUBE-*); the kubelet's canaries are KUBE-* too. CNI chains are
# shared with any other CNI user of the machine (podman, buildah), so only
# the rules naming this cluster's pod range or CNI network go, and a CNI
# chain only once nothing else is left in it.
clean_iptables() {
	if [[ -x "$bin/kube-proxy" ]]; then
		"$bin/kube-proxy" --cleanup >/dev/null 2>&1
	fi
	local table rule chain pods="${pod_cidr%.*}."
	for table in filter nat mangle; do
		iptables-save -t "$table" 2>/dev/null | grep '^-A ' |
			grep -F -e "$pods" -e "name: \"$cni_network\"" |
			while read -r rule; do
				eval "iptables -t $table ${rule/-A /-D }" 2>/dev/null
			done
		for chain in $(iptables-save -t "$table" 2>/dev/null | grep -oE '^:(KUBE-[A-Za-z0-9-]+|CNI-[A-Za-z0-9-]+)' | tr -d :); do
			if [[ "$chain" == CNI-* ]] && (($(iptables -t "$table" -S "$chain" 2>/dev/null | grep -vc -- '-j CNI-') > 1)); then
				continue # still holds rules of another CNI user
			fi
			iptables-save -t "$table" 2>/dev/null | grep -E -- "^-A .* -j $chain( |\$)" |
				while read -r rule; do
					eval "iptables -t $table ${rule/-A /-D }" 2>/dev/null
				done
			iptables -t "$table" -F "$chain" 2>/dev/null
		done
		for chain in $(iptables-save -t "$table" 2>/dev/null | grep -oE '^:(KUBE-[A-Za-z0-9-]+|CNI-[A-Za-z0-9-]+)' | tr -d :); do
			(($(iptables -t "$table" -S "$chain" 2>/dev/null | wc -l) <= 1)) && iptables -t "$table" -X "$chain" 2>/dev/null
		done
	done
}

clean_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[[ -d "$d" ]] || continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d "$d" ]] && log "cgroup $d is still there (a process in it?)"
	done
}

# The kubelet's and containerd's mounts under the state folder, deepest first.
clean_mounts() {
	local m
	awk '{print $2}' /proc/mounts | grep -F "$state/" | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}

main() {
	[[ -d "$state" ]] || {
		log "no cluster state in $state: nothing to do"
		return 0
	}
	local t0=$SECONDS netns=()
	drain_pods
	mapfile -t netns < <(sandbox_netns)
	local c
	for c in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop_pid "$c"
	done
	remove_containers
	stop_pid containerd
	stop_pid registry
	# Shims whose containerd is gone exit by themselves once their container
	# is deleted; one that was not (containerd killed mid-way) is found by
	# the socket it was started for.
	local pid
	for pid in $(pgrep -f -- "containerd-shim-runc-v2 -namespace k8s.io .*-address $sock" 2>/dev/null); do
		log "stopping orphaned shim $pid"
		kill -KILL "$pid" 2>/dev/null
	done
	local ns
	for ns in "${netns[@]}"; do
		[[ -e "$ns" ]] || continue
		umount "$ns" 2>/dev/null
		rm -f "$ns"
	done
	ip route del "$service_cidr" dev "$bridge" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	clean_iptables
	clean_cgroups
	clean_mounts
	if [[ -f "$state/sysctl.saved" ]]; then
		local kv
		while read -r kv; do sysctl -qw "$kv"; done <"$state/sysctl.saved"
	fi
	rm -rf "$state"
	[[ -d "$state" ]] && log "could not remove $state"
	log "down ($((SECONDS - t0))s)"
}

main "$@"
