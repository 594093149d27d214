# The offline analyzer: build/sockleak-report reads the event logs of a run (analyzer/), linked
# with the same core objects the preload is made of, compiled without -fPIC. Also its libFuzzer
# target (built on demand: make build/fuzz_log_reader) and the programs its tests run.
ANALYZER_SRC  := $(filter-out analyzer/fuzz_log_reader.c,$(wildcard analyzer/*.c))
ANALYZER_OBJ  := $(patsubst %.c,$(B)/%.o,$(ANALYZER_SRC))
ANALYZER_HDRS := $(wildcard analyzer/*.h)
CORE_OBJ      := $(patsubst %.c,$(B)/%.o,$(CORE_SRC))

$(B)/core/%.o: core/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -c $< -o $@

$(B)/analyzer/%.o: analyzer/%.c $(HEADERS) $(ANALYZER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -c $< -o $@

# jansson reads JSON (baselines, and the report read back to annotate it); libdw is opened with
# dlopen by core/symbolize.c.
$(B)/sockleak-report: $(ANALYZER_OBJ) $(CORE_OBJ)
	$(CC) -o $@ $^ -ljansson -ldl

# The fuzz target: the reader and the core compiled together under ASan and UBSan.
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	      -fno-omit-frame-pointer
$(B)/fuzz_log_reader: analyzer/fuzz_log_reader.c analyzer/log_reader.c analyzer/log_reader.h $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(FUZZ_FLAGS) -o $@ analyzer/fuzz_log_reader.c analyzer/log_reader.c $(CORE_SRC) -ldl

# Programs the analyzer's tests run (tests/test_analyzer.py, tests/test_sockleak_run.py).
ANALYZER_TESTPROGS := $(patsubst analyzer/testprogs/%.c,$(B)/analyzer/testprogs/%,$(wildcard analyzer/testprogs/*.c))
TESTPROG_FLAGS_static_true := -static
TESTPROG_FLAGS_static_exec := -static

$(B)/analyzer/testprogs/%: analyzer/testprogs/%.c testapps/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O0 -g -Wall -Wextra -Wno-unused-parameter -pthread -o $@ $< $(TESTPROG_FLAGS_$*)

.PHONY: analyzer
analyzer: $(B)/sockleak-report $(ANALYZER_TESTPROGS)
