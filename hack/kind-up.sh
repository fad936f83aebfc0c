#!/usr/bin/env bash
# Creates the kind cluster of k8s/kind/cluster.yaml unless it exists, and
# points kubectl at it (context kind-vidstream). Safe to run any number of
# times: an existing cluster is kept, with its data; a stopped one is
# started again.
#
# Needs a container engine kind supports (Docker; podman with
# KIND_EXPERIMENTAL_PROVIDER=podman) and kind v0.33 (from PATH, else the one
# `hack/k8s-tools.sh kind` builds).
#
# Usage: hack/kind-up.sh           create or reuse the cluster
#        hack/kind-up.sh --delete  delete it (and everything in it)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/k8s/kind/cluster.yaml"
name="$(sed -n 's/^name: *//p' "$config")"

log() { echo "kind-up: $*" >&2; }

kind="$(command -v kind || true)"
if [[ -z "$kind" ]]; then
	kind="$("$root/hack/k8s-tools.sh" bin)/kind"
	[[ -x "$kind" ]] || "$root/hack/k8s-tools.sh" kind
fi
provider="${KIND_EXPERIMENTAL_PROVIDER:-docker}"
if ! "$provider" info >/dev/null 2>&1; then
	log "$provider does not answer: kind runs its node as a container and needs a running engine"
	exit 1
fi

if [[ "${1:-}" == --delete ]]; then
	"$kind" delete cluster --name "$name"
	exit 0
fi

if "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
	log "cluster $name exists"
	# After a reboot the engine may have left the node stopped.
	node="$name-control-plane"
	if [[ "$("$provider" inspect -f '{{.State.Running}}' "$node" 2>/dev/null)" != true ]]; then
		log "starting its node $node"
		"$provider" start "$node" >/dev/null
	fi
	"$kind" export kubeconfig --name "$name"
else
	log "creating cluster $name from ${config#"$root"/}"
	"$kind" create cluster --config "$config" --wait 180s
fi

if command -v kubectl >/dev/null; then
	kubectl --context "kind-$name" wait --for=condition=Ready nodes --all --timeout=180s >/dev/null
fi
log "ready: kubectl context kind-$name. Next: skaffold dev (docs/kubernetes.md)"
