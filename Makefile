# The two commands a new machine needs (see README):
#   make demo   build everything (release) and run the C example against the stand-in server
#   make test   run the whole test suite
# Other targets: build, examples, header, abi-baseline, install, uninstall, bench, clean,
#   test-node, test-go (the Node and Go packages' suites; part of `make test`).

CARGO  ?= cargo
CC     ?= cc
PYTHON ?= python3
NODE   ?= node
GO     ?= go
CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror

RELEASE := target/release
OUT     := target/examples-c

.PHONY: all build examples demo test lint test-node test-go debug-lib header abi-baseline install install-files uninstall bench clean

# Installation, with the usual PREFIX/DESTDIR semantics:
#   make install PREFIX=/usr/local            (default PREFIX)
#   make install DESTDIR=/tmp/stage PREFIX=/usr   (packaging: paths inside say /usr)
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Where install-files takes the built libraries from.
BUILD_DIR    ?= $(RELEASE)
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR        := $(firstword $(subst ., ,$(VERSION)))
# What a static link needs besides libbrowserbase.a (rustc --print native-static-libs).
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

all: build examples

# The library's soname is libbrowserbase.so.0 (build.rs); programs linked
# against it look for that name, which cargo does not create.
build:
	$(CARGO) build --release
	ln -sf libbrowserbase.so $(RELEASE)/libbrowserbase.so.0

# The C examples, linked against the shared library (rpath: no install needed).
examples: build
	@mkdir -p $(OUT)
	for example in download wait_and_extract; do \
	    $(CC) $(CFLAGS) -Iinclude examples/$$example.c -o $(OUT)/$$example \
	        -L$(RELEASE) -lbrowserbase -Wl,-rpath,$(abspath $(RELEASE)) || exit 1; \
	done

demo: all
	@scripts/demo.sh $(abspath $(RELEASE))/bb-stand-in-server $(abspath $(OUT))

# Rust unit and integration tests (they build and run the C and C++ tests),
# then the Python ctypes tests and the Python package's tests against the
# debug build.
test: lint
	$(CARGO) build
	$(CARGO) test
	BB_LIBRARY=$(abspath target/debug/libbrowserbase.so) \
	BB_STAND_IN_SERVER=$(abspath target/debug/bb-stand-in-server) \
	    $(PYTHON) -m unittest discover -s tests/python -v
	BROWSERBASE_C_LIBRARY=$(abspath target/debug/libbrowserbase.so) \
	BB_STAND_IN_SERVER=$(abspath target/debug/bb-stand-in-server) \
	    $(PYTHON) -m unittest discover -s bindings/python/tests -t bindings/python -v
	$(MAKE) test-node test-go

# Formatting and clippy over the whole workspace (the library, its tests,
# the stand-in server), warnings as errors: part of `make test`, so of CI.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The debug library with its soname link (what programs linked with
# -lbrowserbase look for), and the stand-in server.
debug-lib:
	$(CARGO) build
	ln -sf libbrowserbase.so target/debug/libbrowserbase.so.0

# The Node package (bindings/node) against the debug build. Its one
# dependency (koffi, prebuilt binaries) comes from the npm registry, as
# package-lock.json pins it, the first time.
bindings/node/node_modules/koffi:
	cd bindings/node && npm ci --no-audit --no-fund

test-node: debug-lib bindings/node/node_modules/koffi
	cd bindings/node && \
	BROWSERBASE_C_LIBRARY=$(abspath target/debug/libbrowserbase.so) \
	BB_STAND_IN_SERVER=$(abspath target/debug/bb-stand-in-server) \
	    $(NODE) --test --test-timeout=120000 test/*.test.js

# The Go module (bindings/go) against the debug build: vet, then the tests.
# Standard library only, so nothing is downloaded.
GO_ENV = GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off \
	CGO_CFLAGS="-I$(abspath include)" \
	CGO_LDFLAGS="-L$(abspath target/debug) -Wl,-rpath,$(abspath target/debug)" \
	BB_STAND_IN_SERVER=$(abspath target/debug/bb-stand-in-server)
test-go: debug-lib
	cd bindings/go && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -count=1 -timeout 300s ./...

install: build
	$(MAKE) install-files

# Copies an existing build (BUILD_DIR) into place: the shared library with its
# soname links, the static library, the headers and browserbase.pc.
install-files:
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(BUILD_DIR)/libbrowserbase.so $(DESTDIR)$(LIBDIR)/libbrowserbase.so.$(VERSION)
	ln -sf libbrowserbase.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbrowserbase.so.$(MAJOR)
	ln -sf libbrowserbase.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libbrowserbase.so
	install -m 0644 $(BUILD_DIR)/libbrowserbase.a $(DESTDIR)$(LIBDIR)/libbrowserbase.a
	install -m 0644 include/browserbase.h $(DESTDIR)$(INCLUDEDIR)/browserbase.h
	if [ -f include/browserbase.hpp ]; then install -m 0644 include/browserbase.hpp $(DESTDIR)$(INCLUDEDIR)/browserbase.hpp; fi
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|' \
	    browserbase.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libbrowserbase.so $(DESTDIR)$(LIBDIR)/libbrowserbase.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libbrowserbase.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbrowserbase.a \
	      $(DESTDIR)$(INCLUDEDIR)/browserbase.h $(DESTDIR)$(INCLUDEDIR)/browserbase.hpp \
	      $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc

# Benchmarks (not part of `make test`): libbrowserbase against curl, dd and the
# official Python SDK over loopback; rewrites the table in BENCHMARKS.md.
# BENCH_QUICK=1 for a one-minute look; other knobs at the top of benches/bench.py.
bench: build
	BENCH_NO_BUILD=1 $(PYTHON) benches/bench.py

header:
	BB_UPDATE_HEADER=1 $(CARGO) test --test header

# Records the current ABI (include/browserbase.h with abi/browserbase.map, as
# abidw reads it) in abi/libbrowserbase.abi, which tests/abi.rs compares
# against. Only for a deliberate, compatible change (a new function); commit
# the baseline with it. Needs abigail-tools.
abi-baseline: header
	BB_UPDATE_ABI=1 $(CARGO) test --test abi abi_matches_the_baseline

clean:
	$(CARGO) clean
