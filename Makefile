# cacheness: `make demo` shows it working, `make test` runs every test. See README.md.
ROOT   := $(abspath .)
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

.PHONY: all build deps demo test bench install header-check lint stress fuzz clean

all: build

deps:
	scripts/install-deps.sh

# Release build: target/release/libcacheness.{so,a}, the CLI, and include/cacheness.h.
build:
	cargo build --release

header-check: build
	scripts/check-header.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

demo: deps build
	$(MAKE) -C bindings/c example
	scripts/demo.sh

test:
	scripts/test.sh

bench: deps build
	scripts/bench.sh

# Longer crash runs than `make test` does.
stress: build
	CACHENESS_CRASH_ROUNDS=2000 cargo test --release --test crash
	$(MAKE) -C stress long

# Fuzz every cargo-fuzz target for FUZZ_SECONDS (default 60) seconds each; see fuzz/README.md.
fuzz:
	fuzz/run.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 target/release/libcacheness.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 target/release/libcacheness.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/cacheness.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 target/release/cacheness $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' bindings/c/cacheness.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cacheness.pc

clean:
	cargo clean
	rm -rf bindings/c/build bindings/node/build
