#!/usr/bin/env bash
# Builds the govulncheck vulnerability database offline from the
# golang.org/x/vulndb module (fetched through the Go module proxy), so that
# `govulncheck -db file://...` needs no access to vuln.go.dev.
#
# The database is written to .cache/vulndb at the repository root (git-ignored)
# and is reused when it was already built from the same vulndb version.
#
# Usage: hack/vulndb.sh [--force]   prints the database directory on stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Pinned snapshot of golang.org/x/vulndb (its data/osv holds the OSV entries).
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
out="${VULNDB_DIR:-$root/.cache/vulndb}"
marker="$out/.built-from"

if [[ "${1:-}" != "--force" && -f "$marker" && "$(cat "$marker")" == "$VULNDB_VERSION" && -f "$out/index/db.json" ]]; then
	echo "vulndb: up to date ($VULNDB_VERSION)" >&2
	echo "$out"
	exit 0
fi

echo "vulndb: building from golang.org/x/vulndb@$VULNDB_VERSION ..." >&2
start=$SECONDS
# Work outside any module so the repository's go.mod is neither read nor touched.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOWORK=off GOFLAGS=-mod=mod

moddir="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$moddir" || ! -d "$moddir/data/osv" ]]; then
	echo "vulndb: cannot find data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2
	exit 1
fi

tmp_out="$out.tmp.$$"
rm -rf "$tmp_out"
mkdir -p "$(dirname "$out")"
go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$moddir/data/osv" -out "$tmp_out" >&2
if [[ ! -f "$tmp_out/index/db.json" ]]; then
	echo "vulndb: indexdb produced no index/db.json" >&2
	rm -rf "$tmp_out"
	exit 1
fi
echo "$VULNDB_VERSION" >"$tmp_out/.built-from"
rm -rf "$out"
mv "$tmp_out" "$out"
echo "vulndb: built in $((SECONDS - start))s" >&2
echo "$out"
