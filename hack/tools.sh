#!/usr/bin/env bash
# Builds the developer tools pinned in hack/tools/go.mod (buf, controller-gen, protoc-gen-go,
# protoc-gen-go-grpc, golangci-lint, govulncheck) into hack/tools/bin/.
#
# Idempotent: a stamp file records a hash of go.mod and go.sum; when it matches
# and every binary is present, nothing is rebuilt (--force rebuilds, e.g. after
# a Go upgrade).
#
# Usage: hack/tools.sh [--force]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="$root/hack/tools"
bin_dir="$tools_dir/bin"
stamp="$bin_dir/.stamp"

# Binary names produced by the `tool` lines of hack/tools/go.mod.
binaries=(buf controller-gen golangci-lint govulncheck protoc-gen-go protoc-gen-go-grpc)

want_stamp() {
	{
		go env GOOS GOARCH
		cat "$tools_dir/go.mod" "$tools_dir/go.sum"
	} | sha256sum | cut -d' ' -f1
}

up_to_date() {
	[[ -f "$stamp" ]] || return 1
	[[ "$(cat "$stamp")" == "$(want_stamp)" ]] || return 1
	local b
	for b in "${binaries[@]}"; do
		[[ -x "$bin_dir/$b" ]] || return 1
	done
}

if [[ "${1:-}" != "--force" ]] && up_to_date; then
	echo "tools: up to date in ${bin_dir#"$root"/}"
	exit 0
fi

echo "tools: building ${binaries[*]} into ${bin_dir#"$root"/} ..."
start=$SECONDS
mkdir -p "$bin_dir"
# -modfile keeps the tools' dependencies out of the application module.
(cd "$tools_dir" && GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -mod=readonly" go install tool)
for b in "${binaries[@]}"; do
	if [[ ! -x "$bin_dir/$b" ]]; then
		echo "tools: expected $bin_dir/$b after go install" >&2
		exit 1
	fi
done
want_stamp >"$stamp"
echo "tools: built in $((SECONDS - start))s"
