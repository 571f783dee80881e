# The two commands a new machine needs (see README):
#   make demo   build everything (release) and run the C example against the stand-in server
#   make test   run the whole test suite
# Other targets: build, examples, header, abi-baseline, install, install-debug,
# uninstall, python-wheel, bench, clean, test-node, test-go (the Node and Go
# packages' suites; part of `make test`).
#
# The usual split of a C library's build: `make` (or `make build`) as the
# user, then `make install` (as root, or with DESTDIR), which never runs cargo.

CARGO   ?= cargo
CC      ?= cc
PYTHON  ?= python3
NODE    ?= node
GO      ?= go
STRIP   ?= strip
OBJCOPY ?= objcopy
CFLAGS  ?= -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror

# Where cargo puts what it builds: CARGO_TARGET_DIR, build.target-dir in a
# cargo config, or target/. Only cargo knows, so ask it. Where cargo is not on
# the PATH (sudo make install), the directory the last `make build` used,
# recorded in .target-dir.
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null \
                  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'), \
                $(shell cat .target-dir 2>/dev/null), \
                $(CURDIR)/target)
RELEASE := $(TARGET_DIR)/release
DEBUG   := $(TARGET_DIR)/debug
OUT     := $(TARGET_DIR)/examples-c

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libbrowserbase.so.$(MAJOR)
REALNAME := libbrowserbase.so.$(VERSION)

# No path of the build machine in what is built: the checkout, the cargo
# registry's sources under $CARGO_HOME and the target directory (build
# scripts' output) are named by short relative names in file names that end
# up in the binaries (panic locations, debug information). The last matching
# prefix wins, so the most specific comes last.
CARGO_HOME ?= $(HOME)/.cargo
REMAP := --remap-path-prefix=$(abspath $(CARGO_HOME))=cargo-home \
         --remap-path-prefix=$(CURDIR)=libbrowserbase-$(VERSION) \
         --remap-path-prefix=$(TARGET_DIR)=target
BUILD_RUSTFLAGS := $(strip $(RUSTFLAGS) $(REMAP))
# The same for the C code some dependencies compile (ring), through the
# variables the cc crate reads for the host and the target.
PREFIX_MAP := -ffile-prefix-map=$(abspath $(CARGO_HOME))=cargo-home \
              -ffile-prefix-map=$(TARGET_DIR)=target
CARGO_ENV := RUSTFLAGS="$(BUILD_RUSTFLAGS)" \
             HOST_CFLAGS="$(strip $(HOST_CFLAGS) $(PREFIX_MAP))" \
             TARGET_CFLAGS="$(strip $(TARGET_CFLAGS) $(PREFIX_MAP))"

.PHONY: all build bb-download examples demo test lint test-node test-go debug-lib header abi-baseline \
        install install-check install-files install-debug uninstall python-wheel bench clean

# Installation, with the usual PREFIX/DESTDIR semantics:
#   make install PREFIX=/usr/local            (default PREFIX)
#   make install DESTDIR=/tmp/stage PREFIX=/usr   (packaging: paths inside say /usr)
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/browserbase
# Where install-debug puts the separate debug information: gdb looks for a
# .gnu_debuglink file in a .debug directory beside the library.
DEBUGDIR     ?= $(LIBDIR)/.debug
# Where install takes the built libraries from.
BUILD_DIR    ?= $(RELEASE)
# ldconfig runs after installing into one of the loader's directories
# (without DESTDIR); LDCONFIG_DIRS is what ldconfig itself says it scans.
LDCONFIG      ?= $(or $(shell command -v ldconfig 2>/dev/null),/sbin/ldconfig)
LDCONFIG_DIRS ?= $(shell $(LDCONFIG) -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p')
INSTALL_UID   ?= $(shell id -u)

all: build examples

# The release build, and the layout a program links and runs against: cargo
# makes libbrowserbase.so but not its soname link libbrowserbase.so.0, which
# a program linked against it asks the loader for. Also records what a static
# link needs (rustc --print native-static-libs, for browserbase.pc) and splits
# the debug information off for `make install-debug`.
build:
	$(CARGO_ENV) $(CARGO) build --release -p bb-stand-in-server
	$(CARGO_ENV) $(CARGO) rustc --release -p browserbase --lib \
	    -- --print native-static-libs 2> $(RELEASE)/.rustc-output.tmp \
	    || { cat $(RELEASE)/.rustc-output.tmp >&2; exit 1; }
	@cat $(RELEASE)/.rustc-output.tmp >&2
	@libs=$$(sed -n 's/.*native-static-libs: //p' $(RELEASE)/.rustc-output.tmp | tail -n 1); \
	if [ -n "$$libs" ]; then echo "$$libs" > $(RELEASE)/native-static-libs.txt; \
	elif [ ! -s $(RELEASE)/native-static-libs.txt ]; then \
	    echo "cargo did not rebuild the library, so rustc printed no native-static-libs;" \
	         "touch src/lib.rs and run make build again" >&2; exit 1; fi
	@rm -f $(RELEASE)/.rustc-output.tmp
	ln -sf libbrowserbase.so $(RELEASE)/$(SONAME)
	$(OBJCOPY) --only-keep-debug --compress-debug-sections $(RELEASE)/libbrowserbase.so \
	    $(RELEASE)/$(REALNAME).debug
	$(MAKE) --no-print-directory bb-download
	@echo "$(TARGET_DIR)" > .target-dir

# The command-line tool (tools/bb-download.c, on the public header only),
# twice: bb-download finds the library in this tree (for make demo and the
# tests), bb-download.installed where `make install` puts it, through a
# RUNPATH relative to the program ($$ORIGIN/../lib with the default BINDIR
# and LIBDIR), so an installed tree works wherever it is moved and under
# DESTDIR, without ldconfig or LD_LIBRARY_PATH.
BIN_TO_LIB = $(call relative,$(BINDIR),$(LIBDIR))
BB_DOWNLOAD_LINK = -L$(RELEASE) -lbrowserbase -lpthread -lm
bb-download:
	$(CC) $(CFLAGS) $(PREFIX_MAP) -Iinclude tools/bb-download.c -o $(RELEASE)/bb-download \
	    $(BB_DOWNLOAD_LINK) -Wl,-rpath,$(RELEASE)
	$(CC) $(CFLAGS) $(PREFIX_MAP) -Iinclude tools/bb-download.c -o $(RELEASE)/bb-download.installed \
	    $(BB_DOWNLOAD_LINK) '-Wl,-rpath,$$ORIGIN/$(BIN_TO_LIB)'
	@echo '$(BIN_TO_LIB)' > $(RELEASE)/bb-download.installed.libdir

# The C examples, linked against the shared library (rpath: no install needed).
examples: build
	@mkdir -p $(OUT)
	for example in download wait_and_extract; do \
	    $(CC) $(CFLAGS) -Iinclude examples/$$example.c -o $(OUT)/$$example \
	        -L$(RELEASE) -lbrowserbase -Wl,-rpath,$(RELEASE) || exit 1; \
	done

demo: all
	@scripts/demo.sh $(RELEASE)/bb-stand-in-server $(OUT)

# Lint first, then the release build (tests/install.rs and tests/readme.rs
# check the user's build route and what it installs), then the Rust unit and
# integration tests (they build and run the C and C++ tests), then the Python
# ctypes tests and the Python package's tests against the debug build.
test: lint build
	$(CARGO) build
	$(CARGO) test
	BB_LIBRARY=$(DEBUG)/libbrowserbase.so \
	BB_STAND_IN_SERVER=$(DEBUG)/bb-stand-in-server \
	    $(PYTHON) -m unittest discover -s tests/python -v
	BROWSERBASE_C_LIBRARY=$(DEBUG)/libbrowserbase.so \
	BB_STAND_IN_SERVER=$(DEBUG)/bb-stand-in-server \
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
	ln -sf libbrowserbase.so $(DEBUG)/libbrowserbase.so.0

# The Node package (bindings/node) against the debug build. Its one
# dependency (koffi, prebuilt binaries) comes from the npm registry, as
# package-lock.json pins it, the first time.
bindings/node/node_modules/koffi:
	cd bindings/node && npm ci --no-audit --no-fund

test-node: debug-lib bindings/node/node_modules/koffi
	cd bindings/node && \
	BROWSERBASE_C_LIBRARY=$(DEBUG)/libbrowserbase.so \
	BB_STAND_IN_SERVER=$(DEBUG)/bb-stand-in-server \
	    $(NODE) --test --test-timeout=120000 test/*.test.js

# The Go module (bindings/go) against the debug build: vet, then the tests.
# Standard library only, so nothing is downloaded.
GO_ENV = GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off \
	CGO_CFLAGS="-I$(abspath include)" \
	CGO_LDFLAGS="-L$(DEBUG) -Wl,-rpath,$(DEBUG)" \
	BB_STAND_IN_SERVER=$(DEBUG)/bb-stand-in-server
test-go: debug-lib
	cd bindings/go && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -count=1 -timeout 300s ./...

# Installs the last `make build`; runs no cargo (sudo's PATH has none).
install: install-files

install-check:
	@for f in libbrowserbase.so libbrowserbase.a native-static-libs.txt $(REALNAME).debug \
	          bb-download.installed bb-download.installed.libdir; do \
	    if [ ! -f "$(BUILD_DIR)/$$f" ]; then \
	        echo "no build in $(BUILD_DIR) ($$f is missing): run make build first" >&2; exit 1; \
	    fi; \
	done
	@if [ -f .target-dir ] && [ "$(BUILD_DIR)" = "$(RELEASE)" ] \
	    && [ "$$(cat .target-dir)" != "$(TARGET_DIR)" ]; then \
	    echo "the last make build built into $$(cat .target-dir), not $(TARGET_DIR):" \
	         "run make build first" >&2; exit 1; \
	fi

# Copies a build (BUILD_DIR) into place: the shared library stripped, with
# its soname links and a .gnu_debuglink to the debug file install-debug
# installs; the static library without debug sections; the headers, the man
# page, browserbase.pc and the CMake package files.
install-files: install-check
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	$(STRIP) --strip-unneeded --remove-section=.comment \
	    -o $(DESTDIR)$(BINDIR)/bb-download $(BUILD_DIR)/bb-download.installed
	chmod 0755 $(DESTDIR)$(BINDIR)/bb-download
	install -m 0644 man/bb-download.1 $(DESTDIR)$(MANDIR)/man1/bb-download.1
	$(STRIP) --strip-unneeded --remove-section=.comment --remove-section=.note \
	    -o $(DESTDIR)$(LIBDIR)/$(REALNAME) $(BUILD_DIR)/libbrowserbase.so
	$(OBJCOPY) --add-gnu-debuglink=$(BUILD_DIR)/$(REALNAME).debug \
	    $(DESTDIR)$(LIBDIR)/$(REALNAME)
	chmod 0755 $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbrowserbase.so
	$(STRIP) --strip-debug --remove-section=.comment --enable-deterministic-archives \
	    -o $(DESTDIR)$(LIBDIR)/libbrowserbase.a $(BUILD_DIR)/libbrowserbase.a
	chmod 0644 $(DESTDIR)$(LIBDIR)/libbrowserbase.a
	install -m 0644 include/browserbase.h $(DESTDIR)$(INCLUDEDIR)/browserbase.h
	if [ -f include/browserbase.hpp ]; then install -m 0644 include/browserbase.hpp $(DESTDIR)$(INCLUDEDIR)/browserbase.hpp; fi
	install -m 0644 man/browserbase.3 $(DESTDIR)$(MANDIR)/man3/browserbase.3
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_relative,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_relative,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' -e "s|@NATIVE_STATIC_LIBS@|$$(cat $(BUILD_DIR)/native-static-libs.txt)|" \
	    browserbase.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc
	sed -e "s|@NATIVE_STATIC_LIBS@|$$(sed 's/-l//g; s/  */;/g' $(BUILD_DIR)/native-static-libs.txt)|" \
	    -e 's|@LIBDIR_FROM_CMAKEDIR@|$(call relative,$(CMAKEDIR),$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR_FROM_CMAKEDIR@|$(call relative,$(CMAKEDIR),$(INCLUDEDIR))|' \
	    -e 's|@REALNAME@|$(REALNAME)|' -e 's|@SONAME@|$(SONAME)|' \
	    cmake/browserbaseConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/browserbaseConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|' \
	    cmake/browserbaseConfigVersion.cmake.in > $(DESTDIR)$(CMAKEDIR)/browserbaseConfigVersion.cmake
	chmod 0644 $(DESTDIR)$(CMAKEDIR)/*.cmake
	@if [ "$$(cat $(BUILD_DIR)/bb-download.installed.libdir)" != "$(BIN_TO_LIB)" ] \
	    && ! printf '%s\n' $(LDCONFIG_DIRS) | grep -qxF "$(LIBDIR)"; then \
	    echo "bin/bb-download was built to find the library in \$$ORIGIN/$$(cat $(BUILD_DIR)/bb-download.installed.libdir):" \
	         "run make build with the same BINDIR and LIBDIR as make install, or set LD_LIBRARY_PATH=$(LIBDIR)"; \
	fi
	@if [ -z "$(DESTDIR)" ] && printf '%s\n' $(LDCONFIG_DIRS) | grep -qxF "$(LIBDIR)"; then \
	    if [ "$(INSTALL_UID)" = 0 ]; then echo "$(LDCONFIG)"; $(LDCONFIG); \
	    else echo "$(LIBDIR) is one of the loader's directories: run  sudo $(LDCONFIG)"; fi; \
	elif [ -z "$(DESTDIR)" ]; then \
	    echo "$(LIBDIR) is not in the loader's search path: link programs with" \
	         "-Wl,-rpath,$(LIBDIR) or set LD_LIBRARY_PATH=$(LIBDIR)"; \
	fi

# The debug information of the installed shared library (gdb finds it
# through the library's .gnu_debuglink).
install-debug: install-check
	install -d $(DESTDIR)$(DEBUGDIR)
	install -m 0644 $(BUILD_DIR)/$(REALNAME).debug $(DESTDIR)$(DEBUGDIR)/$(REALNAME).debug

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bb-download $(DESTDIR)$(MANDIR)/man1/bb-download.1 \
	      $(DESTDIR)$(LIBDIR)/libbrowserbase.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/libbrowserbase.a \
	      $(DESTDIR)$(DEBUGDIR)/$(REALNAME).debug \
	      $(DESTDIR)$(INCLUDEDIR)/browserbase.h $(DESTDIR)$(INCLUDEDIR)/browserbase.hpp \
	      $(DESTDIR)$(MANDIR)/man3/browserbase.3 \
	      $(DESTDIR)$(PKGCONFIGDIR)/browserbase.pc \
	      $(DESTDIR)$(CMAKEDIR)/browserbaseConfig.cmake \
	      $(DESTDIR)$(CMAKEDIR)/browserbaseConfigVersion.cmake
	-rmdir $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(DEBUGDIR) 2>/dev/null

# ${prefix}-relative in browserbase.pc when under PREFIX (so that
# `pkg-config --define-prefix` can relocate it), absolute otherwise.
pc_relative = $(if $(filter $(PREFIX)/%,$(1)),$${prefix}$(patsubst $(PREFIX)%,%,$(1)),$(1))
# $(2) relative to $(1), both absolute ("../.." style), for the CMake files.
relative = $(shell realpath -m --relative-to='$(1)' '$(2)')

# A wheel of the Python package that bundles the stripped shared library
# (tagged for this platform); without the library it is a pure wheel.
# Goes to $(TARGET_DIR)/wheels.
python-wheel: install-check
	rm -rf $(TARGET_DIR)/python-wheel && mkdir -p $(TARGET_DIR)/python-wheel $(TARGET_DIR)/wheels
	cp -R bindings/python/. $(TARGET_DIR)/python-wheel/
	$(STRIP) --strip-unneeded -o $(TARGET_DIR)/python-wheel/browserbase_c/$(SONAME) \
	    $(BUILD_DIR)/libbrowserbase.so
	$(PYTHON) -m pip wheel --no-deps --no-build-isolation -w $(TARGET_DIR)/wheels \
	    $(TARGET_DIR)/python-wheel

# Benchmarks (not part of `make test`): libbrowserbase against curl, dd, a
# plain reqwest::blocking loop and the official Python SDK over loopback;
# rewrites the table in BENCHMARKS.md. Built with the `profiling` profile
# (release with full debug information, for perf). The bench program first:
# building it also links the library with its dev-dependencies' features
# (reqwest's blocking client), so the library is built again last, as users
# get it.
# BENCH_QUICK=1 for a one-minute look; other knobs at the top of benches/bench.py.
bench:
	$(CARGO_ENV) $(CARGO) build --profile profiling --bench reqwest_blocking
	$(CARGO_ENV) $(CARGO) build --profile profiling -p browserbase -p bb-stand-in-server
	ln -sf libbrowserbase.so $(TARGET_DIR)/profiling/$(SONAME)
	BENCH_NO_BUILD=1 BENCH_BUILD_DIR=$(TARGET_DIR)/profiling $(PYTHON) benches/bench.py

header:
	BB_UPDATE_HEADER=1 $(CARGO) test --test header committed_header_is_current

# Records the current ABI (include/browserbase.h with abi/browserbase.map, as
# abidw reads it) in abi/libbrowserbase.abi, which tests/abi.rs compares
# against. Only for a deliberate, compatible change (a new function); commit
# the baseline with it. Needs abigail-tools.
abi-baseline: header
	BB_UPDATE_ABI=1 $(CARGO) test --test abi abi_matches_the_baseline

clean:
	$(CARGO) clean
	rm -f .target-dir
