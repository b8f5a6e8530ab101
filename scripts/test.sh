#!/usr/bin/env bash
# Every test: Rust (unit, integration, crash, conformance on four backends including a real
# PostgreSQL server started here), header check, lint, the C suite under valgrind and sanitizers,
# the Go binding under -race, the Node binding. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "release build and header"
cargo build --release
scripts/check-header.sh

step "make install + pkg-config (shared and static)"
scripts/check-install.sh

step "format and lint"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

step "PostgreSQL test server"
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop || true' EXIT
test -n "${CACHENESS_TEST_POSTGRES_URL:-}"
export CACHENESS_REQUIRE_POSTGRES=1

step "Rust tests"
cargo test

step "C suite (valgrind: shared and static; ASan/UBSan)"
make -C bindings/c test

step "Go binding"
make -C bindings/go test

step "Node binding"
make -C bindings/node test

step "multi-process stress (C, Go, Node workers on one directory, SIGKILLs)"
make -C stress test

step "all tests passed"
