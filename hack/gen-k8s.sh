#!/usr/bin/env bash
# Generates the Kubernetes code of the topic operator with controller-gen
# (pinned in hack/tools/go.mod): the DeepCopy methods of its API types and
# the KafkaTopic CustomResourceDefinition, written to k8s/crds/ and to the
# topic-operator chart's crds/ folder (Helm installs CRDs from there before
# the resources that use them).
#
# Usage: hack/gen-k8s.sh          regenerate in place
#        hack/gen-k8s.sh --check  fail if the committed files are stale
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
controller_gen="$root/hack/tools/bin/controller-gen"
api=services/topic-operator/api/v1alpha1
crd=messaging.vidstream.dev_kafkatopics.yaml
generated=("$api/zz_generated.deepcopy.go" "k8s/crds/$crd" "charts/vidstream/charts/topic-operator/crds/$crd")

generate() {
	"$controller_gen" object paths="./$api/..."
	"$controller_gen" crd paths="./$api/..." output:crd:dir=k8s/crds
	cp "k8s/crds/$crd" "charts/vidstream/charts/topic-operator/crds/$crd"
}

if [[ "${1:-}" != "--check" ]]; then
	generate
	exit 0
fi

# Generate in place over a saved copy, compare, and put the copy back: the
# work tree ends as it started, uncommitted edits included.
saved="$(mktemp -d)"
trap 'rm -rf "$saved"' EXIT
for f in "${generated[@]}"; do
	mkdir -p "$saved/$(dirname "$f")"
	[[ -f "$f" ]] && cp "$f" "$saved/$f"
done
generate
status=0
for f in "${generated[@]}"; do
	if ! diff -u "$saved/$f" "$f" >&2; then
		echo "gen-k8s: $f is out of date" >&2
		status=1
	fi
	if [[ -f "$saved/$f" ]]; then cp "$saved/$f" "$f"; else rm -f "$f"; fi
done
if ((status != 0)); then
	echo "gen-k8s: run 'make gen' and commit the result" >&2
	exit 1
fi
echo "gen-k8s: generated Kubernetes code is up to date"
