# sockleak: `make` builds, `make demo` shows it working, `make check` runs every test.
# Both demo and check first install any missing Debian packages (scripts/setup-deps).
# `make install` (PREFIX=/usr/local, DESTDIR) installs the command, `make uninstall` removes it,
# `make deb` builds build/sockleak_VERSION_amd64.deb.

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

# On x86-64, the C library functions in preload/lazy_imports.list are bound by sockleak at
# their first call instead of by the loader at every process's start (issue 12; resolve.c says
# how). Elsewhere, or with LAZY_IMPORTS=0, they are ordinary imports bound at load (-z now).
comma := ,
LAZY_IMPORTS ?= $(if $(filter x86_64-%,$(shell $(CC) -dumpmachine)),1,0)
ifeq ($(LAZY_IMPORTS),1)
LAZY_NAMES   := $(shell grep -v '^\#' preload/lazy_imports.list)
LAZY_CFLAGS  := -DSL_LAZY_IMPORTS
LAZY_LDFLAGS := $(addprefix -Wl$(comma)--wrap=,$(LAZY_NAMES))
PRELOAD_OBJ  += $(B)/pic/preload/lazy_imports.o $(B)/pic/preload/lazy_imports_x86_64.o
endif

# The version's one source is core/report.h; the installed command asks the analyzer for it.
VERSION := $(shell sed -n 's/^\#define SOCKLEAK_VERSION "\(.*\)"$$/\1/p' core/report.h)
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib/sockleak
MANDIR  := $(PREFIX)/share/man/man1
DOCDIR  := $(PREFIX)/share/doc/sockleak
DOCS    := README.md $(wildcard docs/*.md)

.PHONY: all deps demo check clean testapps install uninstall deb
all: $(B)/libsockleak.so testapps analyzer unit

deps:
	@scripts/setup-deps

$(B)/pic/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) $(LAZY_CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec -c $< -o $@

$(B)/pic/preload/vfork.o: preload/vfork.S
	@mkdir -p $(dir $@)
	$(CC) -fPIC -c $< -o $@

$(B)/pic/preload/lazy_imports_x86_64.o: preload/lazy_imports_x86_64.S
	@mkdir -p $(dir $@)
	$(CC) -fPIC -c $< -o $@

$(B)/pic/preload/lazy_imports.o: preload/lazy_imports.list preload/lazy_imports.sh
	@mkdir -p $(dir $@)
	preload/lazy_imports.sh preload/lazy_imports.list > $(B)/pic/preload/lazy_imports.S
	$(CC) -fPIC -c $(B)/pic/preload/lazy_imports.S -o $@

# The preload links nothing but libc: libunwind, libdw and libssl are opened with dlopen when
# needed, so they never take part in the host program's symbol resolution. -z now binds its
# calls into libc at load: bound lazily, a hook's first call to a libc function ran the
# loader's resolver on the program's stack, which saves the whole vector state there (2.7 KiB
# with AVX-512) and crashed a thread with little stack left (docs/reliability.md, issue 10).
# Most of those calls go through sockleak's own lazy binding instead (LAZY_LDFLAGS above), which
# keeps that promise; -z now still binds the few left to the loader.
$(B)/libsockleak.so: $(PRELOAD_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-z,nodelete -Wl,-z,now -Wl,--no-undefined $(LAZY_LDFLAGS) -ldl -lpthread

include testapps/testapps.mk
include tests/unit/unit.mk
include analyzer/analyzer.mk
include bench/bench.mk
include tests/reliability.mk

demo: deps all
	@scripts/demo

check: deps all
	@scripts/check

# The installed command finds the preload and the analyzer in ../lib/sockleak from where it is
# (TOOLS below its prefix), never in a build tree.
install: $(B)/libsockleak.so $(B)/sockleak-report
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR)
	install -m 0644 $(B)/libsockleak.so $(DESTDIR)$(LIBDIR)/libsockleak.so
	install -m 0755 $(B)/sockleak-report $(DESTDIR)$(LIBDIR)/sockleak-report
	sed 's|^TOOLS = "build"$$|TOOLS = "lib/sockleak"|' scripts/sockleak > $(B)/sockleak.installed
	grep -q '^TOOLS = "lib/sockleak"$$' $(B)/sockleak.installed
	install -m 0755 $(B)/sockleak.installed $(DESTDIR)$(BINDIR)/sockleak
	sed 's|"sockleak [0-9][0-9.]*"|"sockleak $(VERSION)"|' docs/sockleak.1 > $(B)/sockleak.1
	install -m 0644 $(B)/sockleak.1 $(DESTDIR)$(MANDIR)/sockleak.1
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sockleak $(DESTDIR)$(LIBDIR)/libsockleak.so $(DESTDIR)$(LIBDIR)/sockleak-report
	rm -f $(DESTDIR)$(MANDIR)/sockleak.1 $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian package: what `make install PREFIX=/usr` installs, the manual page compressed as
# Debian's policy asks, and the packages the pieces need at run time (libc6 as new as the newest
# symbol version they use; libjansson4 for the analyzer; libunwind8 and libdw1, which the preload
# and the analyzer open for stacks and symbols; python3 for the command).
DEB      := $(B)/sockleak_$(VERSION)_amd64.deb
DEB_ROOT := $(B)/deb-root
deb: $(B)/libsockleak.so $(B)/sockleak-report
	rm -rf $(DEB_ROOT)
	$(MAKE) --no-print-directory install DESTDIR=$(DEB_ROOT) PREFIX=/usr
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/sockleak.1
	install -d $(DEB_ROOT)/DEBIAN
	{ echo "Package: sockleak"; \
	  echo "Version: $(VERSION)"; \
	  echo "Architecture: amd64"; \
	  echo "Maintainer: sockleak developers <sockleak@localhost>"; \
	  echo "Installed-Size: $$(du -sk $(DEB_ROOT)/usr | cut -f1)"; \
	  echo "Depends: libc6 (>= $$(objdump -T $(B)/libsockleak.so $(B)/sockleak-report | \
		grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)), libjansson4, libunwind8, libdw1, python3"; \
	  echo "Section: devel"; \
	  echo "Priority: optional"; \
	  echo "Description: socket and TLS leak detector for unmodified programs"; \
	  echo " sockleak PROGRAM runs a program with an LD_PRELOAD library in it and in every"; \
	  echo " process it starts, and reports the sockets, epoll registrations and TLS sessions"; \
	  echo " they did not finish, with the stack that made each; for CI it writes SARIF, JUnit"; \
	  echo " and JSON and gates on an exit status."; \
	} > $(DEB_ROOT)/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB)

clean:
	rm -rf $(B)

# Checkpoints (issue 14): the C header and the Python module (with its pytest plugin).
# `make install` installs them; a separate rule, so that other parts of install stay apart.
PREFIX    ?= /usr/local
# Where Debian's python3 looks: /usr/lib/python3/dist-packages for the system's own packages (the
# Debian package), /usr/local/lib/python3.N/dist-packages for what is installed by hand.
PYVER     := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages)
.PHONY: install install-checkpoints uninstall uninstall-checkpoints
install: install-checkpoints
install-checkpoints:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PYTHONDIR)/sockleak
	install -m 644 include/sockleak.h $(DESTDIR)$(PREFIX)/include/sockleak.h
	install -m 644 python/sockleak/__init__.py python/sockleak/pytest.py $(DESTDIR)$(PYTHONDIR)/sockleak/
uninstall: uninstall-checkpoints
uninstall-checkpoints:
	rm -f $(DESTDIR)$(PREFIX)/include/sockleak.h
	rm -rf $(DESTDIR)$(PYTHONDIR)/sockleak
