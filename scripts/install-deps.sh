#!/usr/bin/env bash
# Installs what the build and the tests need and a fresh Debian machine may lack.
# Toolchains too new for Debian's packages (Rust >= 1.89, Go >= 1.23, Node >= 18) must be present.
set -euo pipefail
need=()
for tool in cc make valgrind pkg-config python3 git; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
pkgs=()
for t in "${need[@]}"; do
    case "$t" in
        cc) pkgs+=(gcc libc6-dev) ;;
        *) pkgs+=("$t") ;;
    esac
done
# AddressSanitizer/UBSan runtimes for the sanitizer build of the C suite.
if ! ls /usr/lib/gcc/x86_64-linux-gnu/*/libasan.so >/dev/null 2>&1 && ! ls /usr/lib/gcc/*/*/libasan.so >/dev/null 2>&1; then
    pkgs+=(libasan8 libubsan1)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
    echo "install-deps: installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null
    }
fi
missing=()
command -v cargo >/dev/null 2>&1 || missing+=("cargo (Rust >= 1.89, rustup)")
command -v go >/dev/null 2>&1 || missing+=("go (>= 1.23)")
command -v node >/dev/null 2>&1 || missing+=("node (>= 18) with npm")
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: missing toolchains: ${missing[*]}" >&2
    exit 1
fi
