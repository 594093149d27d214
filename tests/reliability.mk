# Reliability (issue 7): the preload built with sanitizers, the programs the fault-injection and
# load tests run, and the CPython comparison.
#
#   make sanitize        builds the ASan+UBSan and TSan variants of the preload and runs the
#                        threaded and fork tests under each (also part of make check)
#   make cpython-tests   CPython's socket, ssl and asyncio suites, bare and preloaded, compared
#                        test by test (about 10 minutes; not part of make check)
#   make soak            the load test for 30 seconds instead of make check's 3
#
# A sanitized preload in a program that is not instrumented needs the sanitizer's runtime loaded
# first: LD_PRELOAD="$(gcc -print-file-name=libasan.so) build/asan/libsockleak.so" (and the same
# with libtsan.so). docs/reliability.md says why and what the runs found.

SAN_SRC   := $(CORE_SRC) $(PRELOAD_SRC) $(PRELOAD_ASM)
SAN_FLAGS := $(CSTD) -O1 -g -fno-omit-frame-pointer $(WARN) -fPIC -fvisibility=hidden -ftls-model=initial-exec -shared
SAN_LINK  := -Wl,-z,nodelete -ldl -lpthread

.PHONY: sanitize sanitize-build cpython-tests reliability-build soak

# UBSan stops at the first error (-fno-sanitize-recover) so that no report goes unnoticed.
$(B)/asan/libsockleak.so: $(SAN_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined -o $@ $(SAN_SRC) $(SAN_LINK)

$(B)/tsan/libsockleak.so: $(SAN_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -fsanitize=thread -o $@ $(SAN_SRC) $(SAN_LINK)

sanitize-build: $(B)/asan/libsockleak.so $(B)/tsan/libsockleak.so testapps reliability-build

sanitize: deps all sanitize-build
	@/usr/bin/python3 tests/run.py sanitizers:

# Fault-injection and load programs that are not testapps (tests/reliability/*.c), and the
# library whose constructor makes sockets before sockleak's own constructor runs.
REL_SRC   := $(filter-out tests/reliability/libearly.c,$(wildcard tests/reliability/*.c))
REL_PROGS := $(patsubst tests/reliability/%.c,$(B)/reliability/%,$(REL_SRC))

reliability-build: $(REL_PROGS) $(B)/reliability/libearly.so

$(B)/reliability/%: tests/reliability/%.c testapps/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -pthread -o $@ $< -ldl

$(B)/reliability/libearly.so: tests/reliability/libearly.c testapps/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -pthread -fPIC -shared -o $@ $<

all: reliability-build

cpython-tests: deps all
	@scripts/cpython-tests $(CPYTHON_TESTS_ARGS)

soak: deps all
	@SOCKLEAK_SOAK_SECONDS=$${SOCKLEAK_SOAK_SECONDS:-30} /usr/bin/python3 tests/run.py reliability:load

# testapps/tls_binding_stale_buffer.c (a regression test of the TLS binding) uses OpenSSL.
TESTAPP_LIBS_tls_binding_stale_buffer := -lssl -lcrypto

# The same program defining and exporting its own malloc family and strlen (issue 12: sockleak's
# lazily bound imports must bind to them, as the loader did).
$(B)/reliability/lazy_imports_own: tests/reliability/lazy_imports.c testapps/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -pthread -DOWN_FUNCTIONS -rdynamic -o $@ $< -ldl

reliability-build: $(B)/reliability/lazy_imports_own

# A library with only a DT_HASH table (review of issue 12: sockleak's search of the loaded
# objects must read it without asking dlsym, which waits for the loader's lock).
$(B)/reliability/libsysvhash.so: tests/reliability/sysvhash/libsysvhash.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -fPIC -shared -Wl,--hash-style=sysv -o $@ $<

reliability-build: $(B)/reliability/libsysvhash.so

# An allocator defined under a version of its own, which the loader never binds a C library
# reference to (review of issue 12: nor may sockleak's binding of its own imports).
$(B)/reliability/libversioned_alloc.so: tests/reliability/versioned/libversioned_alloc.c tests/reliability/versioned/libversioned_alloc.map
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -fPIC -shared -Wl,--version-script=tests/reliability/versioned/libversioned_alloc.map -o $@ $<

reliability-build: $(B)/reliability/libversioned_alloc.so
