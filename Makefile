# The two commands a new machine needs (see README):
#   make demo   build everything (release) and run the C example against the stand-in server
#   make test   run the whole test suite
# Other targets: build, examples, header, clean.

CARGO  ?= cargo
CC     ?= cc
PYTHON ?= python3
CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror

RELEASE := target/release
OUT     := target/examples-c

.PHONY: all build examples demo test header clean

all: build examples

# The library's soname is libbrowserbase.so.0 (build.rs); programs linked
# against it look for that name, which cargo does not create.
build:
	$(CARGO) build --release
	ln -sf libbrowserbase.so $(RELEASE)/libbrowserbase.so.0

# The C examples, linked against the shared library (rpath: no install needed).
examples: build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) -Iinclude examples/download.c -o $(OUT)/download \
	    -L$(RELEASE) -lbrowserbase -Wl,-rpath,$(abspath $(RELEASE))

demo: all
	@scripts/demo.sh $(RELEASE)/bb-stand-in-server $(OUT)

# Rust unit and integration tests (they build and run the C tests and the
# C++ header check), then the Python ctypes tests against the debug build.
test:
	$(CARGO) build
	$(CARGO) test
	BB_LIBRARY=$(abspath target/debug/libbrowserbase.so) \
	BB_STAND_IN_SERVER=$(abspath target/debug/bb-stand-in-server) \
	    $(PYTHON) -m unittest discover -s tests/python -v

header:
	BB_UPDATE_HEADER=1 $(CARGO) test --test header

clean:
	$(CARGO) clean
