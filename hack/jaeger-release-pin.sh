#!/usr/bin/env bash
# Pins the Jaeger v2 release archives `make run` may download: downloads
# each archive of services/devstack/jaegerrelease.go's version for Linux and
# macOS on amd64 and arm64, and writes their SHA-256 to
# services/devstack/jaeger-release.sha256. Run it where the release host
# is reachable, when the version changes, and review the diff: the pins are
# what devstack trusts.
#
# Usage: hack/jaeger-release-pin.sh   (JAEGER_RELEASE_URL: a mirror)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/services/devstack/jaegerrelease.go"
version="$(sed -n 's/^const jaegerReleaseVersion = "\(.*\)"$/\1/p' "$src")"
base="${JAEGER_RELEASE_URL:-$(sed -n 's/^const jaegerReleaseURL = "\(.*\)"$/\1/p' "$src")}"
[[ -n "$version" && -n "$base" ]] || { echo "jaeger-release-pin: cannot read the version from $src" >&2; exit 1; }
pins="$root/services/devstack/jaeger-release.sha256"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
lines=()
for target in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
	archive="jaeger-$version-$target.tar.gz"
	echo "jaeger-release-pin: $base/v$version/$archive" >&2
	curl -fsSL --retry 3 -o "$tmp/$archive" "$base/v$version/$archive"
	# The archive must hold the binary devstack extracts.
	tar -tzf "$tmp/$archive" | grep -qE '(^|/)jaeger$' || { echo "jaeger-release-pin: no jaeger in $archive" >&2; exit 1; }
	lines+=("$(cd "$tmp" && sha256sum "$archive")")
done
{
	sed -n '/^#/p' "$pins"
	printf '%s\n' "${lines[@]}"
} >"$tmp/pins"
mv "$tmp/pins" "$pins"
echo "jaeger-release-pin: wrote $pins" >&2
