#!/bin/sh
# Builds one service the way its container image ships it: a static binary
# (CGO_ENABLED=0; the SQLite driver is pure Go), stripped, with the release
# version and commit linked into package buildinfo. The Dockerfile's build
# stage runs this script, and `make k8s-check` runs it for every service,
# so a green CI means the images' binaries build.
#
# Usage: hack/build-service.sh SERVICE OUTPUT
#   SERVICE  user, video, watch-history, transcoder or topic-operator (a folder under
#            services/ with a main.go)
#   env      VERSION, COMMIT (default: what the toolchain records),
#            GOOS, GOARCH (default: this machine)
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: $0 SERVICE OUTPUT" >&2
	exit 2
fi
service="$1"
out="$2"
cd "$(dirname "$0")/.."
if [ -z "$service" ] || [ ! -f "services/$service/main.go" ]; then
	echo "$0: no service \"$service\" (want a folder of services/ with a main.go)" >&2
	exit 2
fi

pkg=github.com/vidstream/vidstream/services/internal/buildinfo
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X $pkg.version=${VERSION:-} -X $pkg.commit=${COMMIT:-}" \
	-o "$out" "./services/$service"
