#!/usr/bin/env bash
# Builds the Kubernetes tools of `make k8s-check` and of docs/kubernetes.md
# into a git-ignored cache, hack/tools/bin/k8s/ (K8S_TOOLS_BIN overrides):
#
#   kube-apiserver, kubectl  Kubernetes v1.37.2   hack/tools/kube      (envtest, apply checks)
#   etcd                     v3.7.3               hack/tools/etcd      (envtest)
#   helm                     v3.22.0              hack/tools/helm      (lint, template)
#   skaffold                 v2.16.1              hack/tools/skaffold  (diagnose, render)
#   kind, kind-config-check  v0.33.0              hack/tools/kind      (cluster config check)
#   otelcol-vidstream        collector v0.165.0   hack/tools/otelcol   (collector config check)
#   jaeger                   v1.76.0 (v2.13.0)    hack/tools/jaeger    (Jaeger config check; the
#                                                 module `make run` builds its Jaeger from)
#
# and, for the real cluster of hack/cluster-up.sh (`make cluster-test`), not
# built unless named (`hack/k8s-tools.sh cluster` builds all three):
#
#   kubelet, kube-proxy,     Kubernetes v1.37.2   hack/tools/kube      (the node and the rest
#   kube-scheduler,                                                    of the control plane)
#   kube-controller-manager
#   coredns                  v1.15.0              hack/tools/coredns   (cluster DNS)
#   vidstream-cluster        -                    hack/tools/cluster   (local image registry,
#                                                 image builder, pause)
#
# Each comes from a Go module of its own under hack/tools/ (pinned versions
# and the replace directives some of them need), never from the
# application's go.mod. A stamp per tool (hash of its module files, build
# flags and the Go version) skips tools that are up to date; --force
# rebuilds. The folder is also KUBEBUILDER_ASSETS for envtest.
#
# Usage: hack/k8s-tools.sh [--force] [TOOL...]   build (all tools by default)
#        hack/k8s-tools.sh bin                    print the tools' folder
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/hack/tools"
bin="${K8S_TOOLS_BIN:-$tools/bin/k8s}"

all=(kube etcd helm skaffold kind otelcol jaeger)
cluster=(kubenode coredns clustertool)
kube_version=v1.37.2

if [[ "${1:-}" == bin ]]; then
	echo "$bin"
	exit 0
fi
force=
if [[ "${1:-}" == --force ]]; then
	force=1
	shift
fi
selected=()
for arg in "$@"; do
	if [[ "$arg" == cluster ]]; then
		selected+=("${cluster[@]}")
	else
		selected+=("$arg")
	fi
done
((${#selected[@]})) || selected=("${all[@]}")

log() { echo "k8s-tools: $*" >&2; }

# outputs TOOL: the binaries a tool puts into $bin.
outputs() {
	case "$1" in
	kube) echo kube-apiserver kubectl ;;
	etcd) echo etcd ;;
	helm) echo helm ;;
	skaffold) echo skaffold ;;
	kind) echo kind kind-config-check ;;
	otelcol) echo otelcol-vidstream ;;
	jaeger) echo jaeger ;;
	kubenode) echo kubelet kube-proxy kube-scheduler kube-controller-manager ;;
	coredns) echo coredns ;;
	clustertool) echo vidstream-cluster pause ;;
	*) log "unknown tool $1 (want one of ${all[*]} ${cluster[*]}, or cluster)" && return 1 ;;
	esac
}

# inputs TOOL: the files whose change means a rebuild.
inputs() {
	local dir="$tools/$1"
	case "$1" in
	kubenode) dir="$tools/kube" ;;
	clustertool) dir="$tools/cluster" ;;
	esac
	find "$dir" -type f \( -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.yaml' \) -not -path "*/otelcol-build/*" | LC_ALL=C sort
}

stamp_of() {
	{
		go env GOVERSION GOOS GOARCH
		echo "$kube_ldflags"
		declare -f "build_$1"
		local f
		for f in $(inputs "$1"); do
			echo "$f"
			cat "$f"
		done
	} | sha256sum | cut -d' ' -f1
}

up_to_date() {
	local stamp="$bin/.stamp-$1" out
	[[ -f "$stamp" && "$(cat "$stamp")" == "$(stamp_of "$1")" ]] || return 1
	for out in $(outputs "$1"); do
		[[ -x "$bin/$out" ]] || return 1
	done
}

# gobuild MODULE_DIR ARGS...: go build inside a tools module, reproducibly.
gobuild() {
	local dir="$1"
	shift
	(cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false -trimpath" go build "$@")
}

# Without the version, kube-apiserver cannot parse its own version and
# refuses to start; the kubelet reports it as the node's version.
kube_ldflags="-s -w \
	-X k8s.io/component-base/version.gitVersion=$kube_version \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean"

build_kube() {
	gobuild "$tools/kube" -ldflags "$kube_ldflags" \
		-o "$bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
}

build_kubenode() {
	# One go build for the four: their packages are compiled once.
	gobuild "$tools/kube" -ldflags "$kube_ldflags" -o "$bin/" \
		k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager
}

build_coredns() {
	# Static: it runs alone in an image FROM scratch.
	CGO_ENABLED=0 gobuild "$tools/coredns" -ldflags "-s -w" -o "$bin/coredns" github.com/coredns/coredns
}

build_clustertool() {
	# Static: the pause binary runs alone in an image of its own.
	CGO_ENABLED=0 gobuild "$tools/cluster" -ldflags "-s -w" -o "$bin/vidstream-cluster" .
	CGO_ENABLED=0 gobuild "$tools/cluster" -ldflags "-s -w" -o "$bin/pause" ./pause
}

build_etcd() {
	gobuild "$tools/etcd" -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
}

build_helm() {
	# The Kubernetes version helm assumes without a cluster (helm template,
	# lint) is the client-go minor it was built with; its Makefile sets it
	# with these flags, `go build` alone would leave v1.20.
	local minor
	minor="$(cd "$tools/helm" && go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
	gobuild "$tools/helm" -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0 \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
		-o "$bin/helm" helm.sh/helm/v3/cmd/helm
}

build_skaffold() {
	gobuild "$tools/skaffold" -ldflags "-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=v2.16.1" \
		-o "$bin/skaffold" github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold
}

build_kind() {
	gobuild "$tools/kind" -ldflags "-s -w" -o "$bin/kind" sigs.k8s.io/kind
	gobuild "$tools/kind" -o "$bin/kind-config-check" ./kindconfig
}

build_otelcol() {
	# The builder generates a collector module from builder-config.yaml
	# (fetching its components through the module proxy) and compiles it.
	local work="$bin/.otelcol"
	rm -rf "$work"
	mkdir -p "$work"
	gobuild "$tools/otelcol" -o "$work/builder" go.opentelemetry.io/collector/cmd/builder
	cp "$tools/otelcol/builder-config.yaml" "$work/"
	(cd "$work" && ./builder --config builder-config.yaml >builder.log 2>&1) || {
		cat "$work/builder.log" >&2
		return 1
	}
	mv "$work/otelcol-build/otelcol-vidstream" "$bin/otelcol-vidstream"
	rm -rf "$work"
}

build_jaeger() {
	# The flags services/devstack uses for the same module, so that either
	# build reuses the other's compiled packages.
	gobuild "$tools/jaeger" -o "$bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
}

mkdir -p "$bin"
total=$SECONDS
for tool in "${selected[@]}"; do
	outputs "$tool" >/dev/null
	if [[ -z "$force" ]] && up_to_date "$tool"; then
		log "$tool: up to date"
		continue
	fi
	log "$tool: building $(outputs "$tool") ..."
	start=$SECONDS
	"build_$tool"
	stamp_of "$tool" >"$bin/.stamp-$tool"
	log "$tool: built in $((SECONDS - start))s"
done
log "done in $((SECONDS - total))s; binaries in ${bin#"$root"/}"
