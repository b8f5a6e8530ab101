#!/usr/bin/env bash
# The main job, with the embedded default (SQLite + files): the C example stores, reads,
# touches, lists, verifies and exports; then the CLI inspects the same directory.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/cacheness-demo.XXXXXX)
cli=target/release/cacheness
echo "== C example on $dir (SQLite + files)"
bindings/c/build/example "$dir"
echo
echo "== the cacheness CLI on the same directory"
set -x
$cli --dir "$dir" put '{"example":"cli"}' --ttl 3600 --metadata '{"writer":"cli"}' <<< "written by the CLI"
$cli --dir "$dir" get '{"example":"cli"}'
$cli --dir "$dir" touch '{"example":"cli"}' --ttl 7200
$cli --dir "$dir" list
$cli --dir "$dir" stats
$cli --dir "$dir" verify --deep
$cli --dir "$dir" export "$dir/backup-cli.tar.gz"
{ set +x; } 2>/dev/null
echo
echo "demo finished; the cache is in $dir"
