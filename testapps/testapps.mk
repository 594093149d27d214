# Test programs: each testapps/*.c becomes build/testapps/NAME, with debug info so that the
# report can name its lines.
TESTAPP_SRC := $(wildcard testapps/*.c)
TESTAPPS    := $(patsubst testapps/%.c,$(B)/testapps/%,$(TESTAPP_SRC))

testapps: $(TESTAPPS) $(B)/testapps/libleaky_plugin.so

# The plugin testapps/dlclose_plugin.c loads and unloads.
$(B)/testapps/libleaky_plugin.so: testapps/plugins/leaky_plugin.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O0 -g -fPIC -shared -Wall -Wextra -o $@ $<
$(B)/testapps/dlclose_plugin: $(B)/testapps/libleaky_plugin.so

$(B)/testapps/%: testapps/%.c testapps/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O0 -g -Wall -Wextra -Wno-unused-parameter -pthread -o $@ $< $(TESTAPP_LIBS_$*)

TESTAPP_LIBS_tls_client := -lssl -lcrypto
TESTAPP_LIBS_tls_set_bio := -lssl -lcrypto
TESTAPP_LIBS_tls_nonblocking_connect := -lssl -lcrypto
TESTAPP_LIBS_tls_up_ref := -lssl -lcrypto
