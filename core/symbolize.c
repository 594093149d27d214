#include "symbolize.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libdw's entry points, resolved from a private dlopen (RTLD_LOCAL keeps its symbols, and those
 * of libelf and zlib, out of the host program's namespace). */
struct dw_api {
	__typeof__(dwfl_begin) *begin;
	__typeof__(dwfl_end) *end;
	__typeof__(dwfl_report_begin) *report_begin;
	__typeof__(dwfl_report_elf) *report_elf;
	__typeof__(dwfl_report_end) *report_end;
	__typeof__(dwfl_addrmodule) *addrmodule;
	__typeof__(dwfl_module_addrinfo) *module_addrinfo;
	__typeof__(dwfl_module_getsrc) *module_getsrc;
	__typeof__(dwfl_lineinfo) *lineinfo;
	__typeof__(dwfl_build_id_find_elf) *build_id_find_elf;
	__typeof__(dwfl_module_build_id) *module_build_id;
	__typeof__(dwfl_offline_section_address) *offline_section_address;
};

struct cached {
	uint64_t key; /* the looked-up address, 0 = empty slot */
	struct sl_frame frame;
};

struct sl_symbolizer {
	struct sl_module *mods;
	unsigned nmods;
	void *libdw;
	struct dw_api api;
	Dwfl_Callbacks callbacks;
	Dwfl *dwfl;
	const char *status;
	struct cached *cache; /* open addressing, a power of two */
	size_t cache_cap, cache_used;
};

static int load_libdw(struct sl_symbolizer *sym)
{
	sym->libdw = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!sym->libdw) {
		sym->status = "libdw.so.1 (elfutils) could not be loaded: frames show module+offset only";
		return -1;
	}
	struct {
		const char *name;
		void **slot;
	} want[] = {
		{"dwfl_begin", (void **)&sym->api.begin},
		{"dwfl_end", (void **)&sym->api.end},
		{"dwfl_report_begin", (void **)&sym->api.report_begin},
		{"dwfl_report_elf", (void **)&sym->api.report_elf},
		{"dwfl_report_end", (void **)&sym->api.report_end},
		{"dwfl_addrmodule", (void **)&sym->api.addrmodule},
		{"dwfl_module_addrinfo", (void **)&sym->api.module_addrinfo},
		{"dwfl_module_getsrc", (void **)&sym->api.module_getsrc},
		{"dwfl_lineinfo", (void **)&sym->api.lineinfo},
		{"dwfl_build_id_find_elf", (void **)&sym->api.build_id_find_elf},
		{"dwfl_module_build_id", (void **)&sym->api.module_build_id},
		{"dwfl_offline_section_address", (void **)&sym->api.offline_section_address},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		*want[i].slot = dlsym(sym->libdw, want[i].name);
		if (!*want[i].slot) {
			sym->status = "libdw.so.1 lacks a function sockleak needs: frames show module+offset only";
			return -1;
		}
	}
	return 0;
}

static __typeof__(dwfl_module_build_id) *build_id_fn;

/* Separate debug information, looked up on this machine only: /usr/lib/debug/.build-id, where
 * Debian's -dbgsym packages put it. libdw's standard finder would also start a debuginfod
 * client (even without DEBUGINFOD_URLS), which pulls in libcurl and OpenSSL at exit time, after
 * the program's own OpenSSL was torn down: a crash, and a network request, in the report. */
static int local_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			   const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			   char **debuginfo_file_name)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	(void)userdata, (void)modname, (void)base, (void)file_name, (void)debuglink_file, (void)debuglink_crc;
	int len = build_id_fn ? build_id_fn(mod, &bits, &vaddr) : -1;
	if (len < 2 || len > 64)
		return -1;
	char path[256];
	int n = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/", bits[0]);
	for (int i = 1; i < len; i++)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", bits[i]);
	snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*debuginfo_file_name = strdup(path);
	return fd;
}

struct sl_symbolizer *sl_sym_new(const struct sl_module *mods, unsigned n)
{
	struct sl_symbolizer *sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	sym->mods = calloc(n ? n : 1, sizeof(*mods));
	if (!sym->mods) {
		free(sym);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		sym->mods[i] = mods[i];
		sym->mods[i].path = mods[i].path ? strdup(mods[i].path) : NULL;
	}
	sym->nmods = n;
	if (load_libdw(sym) < 0)
		return sym;
	sym->callbacks.find_elf = sym->api.build_id_find_elf;
	build_id_fn = sym->api.module_build_id;
	sym->callbacks.find_debuginfo = local_debuginfo;
	sym->callbacks.section_address = sym->api.offline_section_address;
	sym->dwfl = sym->api.begin(&sym->callbacks);
	if (!sym->dwfl) {
		sym->status = "libdw could not start a session: frames show module+offset only";
		return sym;
	}
	sym->api.report_begin(sym->dwfl);
	for (unsigned i = 0; i < n; i++) {
		if (!sym->mods[i].path || sym->mods[i].path[0] != '/')
			continue; /* the vDSO, or a module whose file is unknown */
		/* A module whose file is gone or unreadable is skipped: its frames keep module+offset. */
		sym->api.report_elf(sym->dwfl, sym->mods[i].path, sym->mods[i].path, -1, sym->mods[i].base, false);
	}
	sym->api.report_end(sym->dwfl, NULL, NULL);
	return sym;
}

void sl_sym_free(struct sl_symbolizer *sym)
{
	if (!sym)
		return;
	if (sym->dwfl)
		sym->api.end(sym->dwfl);
	for (size_t i = 0; i < sym->cache_cap; i++) {
		if (!sym->cache[i].key)
			continue;
		free((char *)sym->cache[i].frame.function);
		free((char *)sym->cache[i].frame.file);
	}
	free(sym->cache);
	for (unsigned i = 0; i < sym->nmods; i++)
		free(sym->mods[i].path);
	free(sym->mods);
	/* libdw stays mapped: closing it while atexit handlers of its own may run is not worth it. */
	free(sym);
}

const char *sl_sym_status(const struct sl_symbolizer *sym)
{
	return sym ? sym->status : "out of memory";
}

static struct cached *cache_slot(struct sl_symbolizer *sym, uint64_t key)
{
	if (sym->cache_used * 2 >= sym->cache_cap) {
		size_t ncap = sym->cache_cap ? sym->cache_cap * 2 : 256;
		struct cached *n = calloc(ncap, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < sym->cache_cap; i++) {
			if (!sym->cache[i].key)
				continue;
			size_t k = (size_t)(sym->cache[i].key * 0x9e3779b97f4a7c15ull >> 20) & (ncap - 1);
			while (n[k].key)
				k = (k + 1) & (ncap - 1);
			n[k] = sym->cache[i];
		}
		free(sym->cache);
		sym->cache = n;
		sym->cache_cap = ncap;
	}
	size_t k = (size_t)(key * 0x9e3779b97f4a7c15ull >> 20) & (sym->cache_cap - 1);
	while (sym->cache[k].key && sym->cache[k].key != key)
		k = (k + 1) & (sym->cache_cap - 1);
	return &sym->cache[k];
}

static void lookup(struct sl_symbolizer *sym, uint64_t addr, struct sl_frame *f)
{
	const struct sl_module *m = sl_module_of(sym->mods, sym->nmods, addr);
	if (m) {
		f->module = m->path;
		f->offset = addr - m->base;
	}
	if (!sym->dwfl)
		return;
	Dwfl_Module *mod = sym->api.addrmodule(sym->dwfl, addr);
	if (!mod)
		return;
	GElf_Off off = 0;
	GElf_Sym s;
	const char *name = sym->api.module_addrinfo(mod, addr, &off, &s, NULL, NULL, NULL);
	if (name)
		f->function = strdup(name);
	Dwfl_Line *line = sym->api.module_getsrc(mod, addr);
	if (line) {
		int lineno = 0;
		const char *file = sym->api.lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		if (file) {
			f->file = strdup(file);
			f->line = lineno;
		}
	}
}

void sl_sym_frame(struct sl_symbolizer *sym, uint64_t pc, int return_address, struct sl_frame *out)
{
	memset(out, 0, sizeof(*out));
	out->pc = pc;
	if (!sym || pc == 0)
		return;
	uint64_t addr = return_address ? pc - 1 : pc;
	struct cached *c = cache_slot(sym, addr);
	if (c && c->key == addr) {
		*out = c->frame;
		out->pc = pc;
		return;
	}
	lookup(sym, addr, out);
	if (out->module)
		out->offset = pc - (addr - out->offset); /* report the address itself, not addr */
	if (c) {
		c->key = addr;
		c->frame = *out;
		sym->cache_used++;
	}
}
