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
# needed, so they never take part in the host program's symbol resolution. -z now binds its
# calls into libc at load: bound lazily, a hook's first call to a libc function ran the
# loader's resolver on the program's stack, which saves the whole vector state there (2.7 KiB
# with AVX-512) and crashed a thread with little stack left (docs/reliability.md, issue 10).
$(B)/libsockleak.so: $(PRELOAD_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-z,nodelete -Wl,-z,now -Wl,--no-undefined -ldl -lpthread

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
