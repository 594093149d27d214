# Benchmark workloads: each bench/NAME.c becomes build/bench/NAME, optimized as a real program
# would be, with debug info so that profiles name its lines. `make bench` runs them bare, under
# sockleak, strace and valgrind (scripts/bench) and prints the figures; it is not a test.
BENCH_SRC := $(wildcard bench/*.c)
BENCHES   := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
BENCH_LIBS_tls := -lssl -lcrypto

.PHONY: bench bench-build
bench-build: $(BENCHES) $(B)/bench/libfloor.so

# An empty library, the floor of what preloading any library costs (bench/floor/floor.c).
$(B)/bench/libfloor.so: bench/floor/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O2 -shared -fPIC -o $@ $<

$(B)/bench/%: bench/%.c bench/benchlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O2 -g $(WARN) -pthread -o $@ $< $(BENCH_LIBS_$*)

bench: deps $(B)/libsockleak.so bench-build
	@scripts/bench $(BENCH_ARGS)
