#!/usr/bin/env bash
# Fails when include/cacheness.h differs from what build.rs just generated from src/ffi.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "check-header: not a git checkout; skipping the comparison" && exit 0
fi
if ! git diff --exit-code -- include/cacheness.h; then
    echo "check-header: include/cacheness.h is out of date: build, then commit the regenerated header" >&2
    exit 1
fi
if [ -n "$(git ls-files --others --exclude-standard include/)" ]; then
    echo "check-header: include/ has files that are not committed" >&2
    exit 1
fi
echo "check-header: include/cacheness.h matches src/ffi"
