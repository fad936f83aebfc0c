#!/usr/bin/env bash
# Checks the protobuf contracts in services/api for breaking changes against
# an earlier commit (default HEAD~1; override with BUF_BREAKING_AGAINST=<ref>,
# e.g. origin/main). Skips, successfully, when that commit does not exist
# (first commit, shallow clone) or has no services/api buf module yet.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
against="${BUF_BREAKING_AGAINST:-HEAD~1}"
export PATH="$root/hack/tools/bin:$PATH"

if ! git -C "$root" rev-parse -q --verify "$against^{commit}" >/dev/null; then
	echo "buf-breaking: skipped: no commit $against to compare with"
	exit 0
fi
if ! git -C "$root" cat-file -e "$against:services/api/buf.yaml" 2>/dev/null; then
	echo "buf-breaking: skipped: $against has no services/api/buf.yaml"
	exit 0
fi
cd "$root/services/api"
buf breaking --against "$root/.git#ref=$against,subdir=services/api"
echo "buf-breaking: no breaking changes against $against"
