#!/usr/bin/env bash
# Checks that the generated Go code in services/api is what `make gen` would
# produce from the .proto files: generates into a temporary directory and
# compares every *.pb.go file (missing, stale, extra or different ones fail).
# Leaves the work tree untouched, so it also works with uncommitted changes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
api="$root/services/api"
export PATH="$root/hack/tools/bin:$PATH"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$api" && buf generate -o "$tmp")

list() { (cd "$1" && find . -name '*.pb.go' -not -path './proto/*' | sort); }

status=0
if ! diff -u <(list "$api") <(list "$tmp") >"$tmp.files"; then
	echo "gen-check: the set of generated files differs (- in tree, + generated):" >&2
	grep '^[-+]\./' "$tmp.files" >&2 || true
	status=1
fi
rm -f "$tmp.files"
while read -r f; do
	if [[ -f "$api/$f" ]] && ! diff -q "$api/$f" "$tmp/$f" >/dev/null; then
		echo "gen-check: services/api/${f#./} is out of date:" >&2
		diff -u "$api/$f" "$tmp/$f" | head -n 40 >&2 || true
		status=1
	fi
done < <(list "$tmp")

if ((status != 0)); then
	echo "gen-check: run 'make gen' and commit the result" >&2
	exit 1
fi
echo "gen-check: generated code is up to date"
