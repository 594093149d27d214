# sockleak: `make` builds, `make demo` shows it working, `make check` runs every test.
# Both demo and check first install any missing Debian packages (scripts/setup-deps).

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
CSTD    := -std=gnu11 -D_GNU_SOURCE
B       := build

CORE_SRC    := $(wildcard core/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
PRELOAD_ASM := preload/vfork.S
HEADERS     := $(wildcard core/*.h preload/*.h)

PRELOAD_OBJ := $(patsubst %.c,$(B)/pic/%.o,$(CORE_SRC) $(PRELOAD_SRC)) $(B)/pic/preload/vfork.o

.PHONY: all deps demo check clean testapps
all: $(B)/libsockleak.so testapps analyzer unit

deps:
	@scripts/setup-deps

$(B)/pic/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -ftls-model=initial-exec -c $< -o $@

$(B)/pic/preload/vfork.o: preload/vfork.S
	@mkdir -p $(dir $@)
	$(CC) -fPIC -c $< -o $@

# The preload links nothing but libc: libunwind, libdw and libssl are opened with dlopen when
# needed, so they never take part in the host program's symbol resolution.
$(B)/libsockleak.so: $(PRELOAD_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-z,nodelete -Wl,--no-undefined -ldl -lpthread

include testapps/testapps.mk
include tests/unit/unit.mk
include analyzer/analyzer.mk
include bench/bench.mk
include tests/reliability.mk

demo: deps all
	@scripts/demo

check: deps all
	@scripts/check

clean:
	rm -rf $(B)

# Checkpoints (issue 14): the C header and the Python module (with its pytest plugin).
# `make install` installs them; a separate rule, so that other parts of install stay apart.
PREFIX    ?= /usr/local
PYTHONDIR ?= $(PREFIX)/lib/python3/dist-packages
.PHONY: install install-checkpoints
install: install-checkpoints
install-checkpoints:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PYTHONDIR)/sockleak
	install -m 644 include/sockleak.h $(DESTDIR)$(PREFIX)/include/sockleak.h
	install -m 644 python/sockleak/__init__.py python/sockleak/pytest.py $(DESTDIR)$(PYTHONDIR)/sockleak/
