#!/usr/bin/env bash
# `make install` into a temporary prefix, then build the C example with pkg-config against the
# installed shared and static library, and run both.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d /tmp/cacheness-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --validate cacheness
echo "check-install: pkg-config cacheness $(pkg-config --modversion cacheness): $(pkg-config --cflags --libs cacheness)"
cc -std=c11 -Wall -Werror -o "$prefix/example-shared" bindings/c/examples/example.c \
    $(pkg-config --cflags --libs cacheness) -Wl,-rpath,"$prefix/lib"
cc -std=c11 -Wall -Werror -o "$prefix/example-static" bindings/c/examples/example.c \
    $(pkg-config --cflags cacheness) "$prefix/lib/libcacheness.a" $(pkg-config --static --libs-only-l cacheness | sed 's/-lcacheness//')
"$prefix/example-shared" "$prefix/cache-shared" >/dev/null
"$prefix/example-static" "$prefix/cache-static" >/dev/null
test -x "$prefix/bin/cacheness" && "$prefix/bin/cacheness" --dir "$prefix/cache-shared" verify >/dev/null
echo "check-install: installed library, header, pkg-config file and CLI work (shared and static)"
