#!/usr/bin/env bash
# Validates everything vidstream ships for Kubernetes (`make k8s-check`):
#
#   helm-lint   `helm lint --strict` of every chart, and of the umbrella
#               with each scenario of charts/vidstream/ci
#   render      `helm template` of each scenario (defaults, all
#               infrastructure off, tracing off, topic operator off)
#   go-test     the chart tests (charts/): hardening of every container,
#               NetworkPolicy flows, memory budget, no secrets in values,
#               and every rendered object created on a real kube-apiserver
#               (envtest, KUBEBUILDER_ASSETS), the Jaeger configuration
#               validated by Jaeger itself
#   images      each service and the topic operator built by
#               hack/build-service.sh, as the Dockerfile builds them, and
#               checked static with version info
#   skaffold    `skaffold diagnose` and `skaffold render --offline` (all
#               profiles)
#   kind        k8s/kind/cluster.yaml decoded with kind's own types
#   otelcol     observability/otel-collector.yaml validated by a collector
#               built with the same components
#
# The tools come from hack/k8s-tools.sh (built on first use). Every step
# runs, is timed, and any failure fails the script at the end.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NO_COLOR=1

hack/k8s-tools.sh || exit 1
bin="$(hack/k8s-tools.sh bin)"
export KUBEBUILDER_ASSETS="$bin"
# The chart tests validate the Jaeger configuration with it.
export VIDSTREAM_JAEGER_BIN="$bin/jaeger"
# skaffold runs helm (and kind) from PATH.
export PATH="$bin:$PATH"
# Helm caches and configuration in a scratch folder, not the user's.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export HELM_CACHE_HOME="$scratch/helm/cache" HELM_CONFIG_HOME="$scratch/helm/config" HELM_DATA_HOME="$scratch/helm/data"
export SKAFFOLD_UPDATE_CHECK=false SKAFFOLD_DISABLE_MONITORING=true

umbrella=charts/vidstream
scenarios=(default infra-off tracing-off topic-operator-off)
failed=()
summary=()

step() {
	local name="$1" t0=$SECONDS rc=0
	shift
	echo "---- k8s-check: $name"
	"$@" || rc=$?
	if ((rc == 0)); then
		summary+=("$(printf '  %-10s ok      %4ss' "$name" $((SECONDS - t0)))")
	else
		summary+=("$(printf '  %-10s FAILED  %4ss' "$name" $((SECONDS - t0)))")
		failed+=("$name")
	fi
}

# helm prints a notice for every symlinked library chart; it is expected.
quiet_symlinks() { grep -v 'found symbolic link in path' || true; }

helm_lint() {
	local rc=0 chart s
	for chart in "$umbrella" "$umbrella"/charts/*/; do
		helm lint --strict "${chart%/}" 2>&1 | quiet_symlinks
		((PIPESTATUS[0] == 0)) || rc=1
	done
	for s in "${scenarios[@]}"; do
		echo "==> with $umbrella/ci/$s-values.yaml"
		helm lint --strict -f "$umbrella/ci/$s-values.yaml" "$umbrella" 2>&1 | quiet_symlinks
		((PIPESTATUS[0] == 0)) || rc=1
	done
	return "$rc"
}

render() {
	local s out rc=0
	for s in "${scenarios[@]}"; do
		out="$scratch/$s.yaml"
		if ! helm template vidstream "$umbrella" --namespace vidstream --kube-version v1.37.2 \
			-f "$umbrella/ci/$s-values.yaml" >"$out" 2> >(quiet_symlinks >&2); then
			rc=1
			continue
		fi
		echo "$s: $(grep -c '^kind: ' "$out") objects"
	done
	return "$rc"
}

go_test() {
	go test -count=1 -v ./charts/ 2>&1 | quiet_symlinks | grep -Ev '^=== (RUN|PAUSE|CONT)'
	return "${PIPESTATUS[0]}"
}

images() {
	local svc out rc=0 version="v0.0.0-check" commit
	commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
	grep -q 'sh hack/build-service.sh "$SERVICE" /out/service' Dockerfile || {
		echo "the Dockerfile's build stage no longer runs hack/build-service.sh"
		rc=1
	}
	for svc in user video watch-history transcoder topic-operator; do
		out="$scratch/images/$svc"
		VERSION="$version" COMMIT="$commit" hack/build-service.sh "$svc" "$out" || {
			rc=1
			continue
		}
		# -trimpath keeps -ldflags out of the recorded build settings: look
		# for the linked-in version string itself.
		if ! go version -m "$out" | grep -q 'CGO_ENABLED=0'; then
			echo "$svc: not a static (CGO_ENABLED=0) build"
			rc=1
			continue
		fi
		if ! grep -aq -- "$version" "$out"; then
			echo "$svc: the version $version is not linked in"
			rc=1
			continue
		fi
		echo "$svc: $(du -h "$out" | cut -f1) static binary, $version"
	done
	return "$rc"
}

skaffold_checks() {
	local rc=0 out="$scratch/skaffold.yaml"
	skaffold diagnose --yaml-only >/dev/null || rc=1
	skaffold diagnose --yaml-only -p registry >/dev/null || rc=1
	skaffold diagnose --yaml-only -p cluster >/dev/null || rc=1
	# --tag: the tagger needs no git state; --digest-source=tag: no registry.
	if skaffold render --offline --digest-source=tag --tag=check >"$out" 2>"$scratch/skaffold.err"; then
		for svc in user video watch-history topic-operator transcoder; do
			grep -q "image: \"\\?vidstream/$svc:check\"\\?" "$out" || {
				echo "skaffold render did not set vidstream/$svc:check"
				rc=1
			}
		done
		echo "skaffold render: $(grep -c '^kind: ' "$out") objects"
	else
		cat "$scratch/skaffold.err"
		rc=1
	fi
	skaffold render --offline --digest-source=tag --tag=check -p registry >/dev/null 2>"$scratch/skaffold.err" || {
		cat "$scratch/skaffold.err"
		rc=1
	}
	# The real-cluster profile: custom builders, the cluster's values file.
	if skaffold render --offline --digest-source=tag --tag=check -p cluster --default-repo=127.0.0.1:15000 \
		>"$out" 2>"$scratch/skaffold.err"; then
		grep -q 'image: "\?127.0.0.1:15000/cluster/kafka:4.4.0' "$out" || {
			echo "skaffold render -p cluster did not take k8s/cluster/values.yaml"
			rc=1
		}
	else
		cat "$scratch/skaffold.err"
		rc=1
	fi
	return "$rc"
}

otelcol_validate() {
	MY_POD_IP=127.0.0.1 OTLP_EXPORT_ENDPOINT=jaeger:4317 OTLP_EXPORT_INSECURE=true \
		otelcol-vidstream validate --config observability/otel-collector.yaml &&
		echo "observability/otel-collector.yaml: valid"
}

step helm-lint helm_lint
step render render
step go-test go_test
step images images
step skaffold skaffold_checks
step kind kind-config-check k8s/kind/cluster.yaml
step otelcol otelcol_validate

echo "---- k8s-check summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
	echo "k8s-check FAILED: ${failed[*]}"
	exit 1
fi
echo "k8s-check: ok"
