#!/usr/bin/env bash
# skaffold's custom builder for the "cluster" profile (skaffold.yaml): builds
# the image of one service (or of the topic operator) as
# hack/cluster-images.sh does and pushes it to $IMAGE, the reference skaffold
# chose (its --default-repo, the cluster's registry, plus its tag). skaffold
# then reads the digest back from the registry.
#
# Usage (by skaffold): IMAGE=127.0.0.1:15000/vidstream/user:abc hack/skaffold-build.sh user
set -euo pipefail
: "${IMAGE:?skaffold sets IMAGE}"
if [[ "${PUSH_IMAGE:-true}" != true ]]; then
	echo "skaffold-build.sh: the cluster profile pushes to the cluster's registry (build.local.push: true)" >&2
	exit 1
fi
exec "$(dirname "${BASH_SOURCE[0]}")/cluster-images.sh" --to "$IMAGE" "$1"
