# Unit tests of core/ (the lifecycle rules, options, suppressions, stacks), with ASan and UBSan.
.PHONY: unit
unit: $(B)/unit/test_core

$(B)/unit/test_core: tests/unit/test_core.c $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=undefined -o $@ tests/unit/test_core.c $(CORE_SRC) -ldl
