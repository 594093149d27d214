/* The modules mapped in this process, read with dl_iterate_phdr, and those dlclose unmapped:
 * a transport made by code in a module unloaded before exit (lighttpd unloads mod_openssl at
 * shutdown) still has its frames named in the exit report. */
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload.h"

struct collect_ctx {
	struct sl_module *v;
	unsigned n, cap;
	int failed;
};

static void build_id(const struct dl_phdr_info *info, struct sl_module *m)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const char *desc = name + ((nh->n_namesz + 3) & ~3u);
			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
				m->build_id_len = (uint8_t)(nh->n_descsz < 20 ? nh->n_descsz : 20);
				memcpy(m->build_id, desc, m->build_id_len);
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

/* The program's file as the user named it: redis-server is a symlink to redis-check-rdb, and
 * /proc/self/exe resolves it. The name execve was given (AT_EXECFN) is used when it is the same
 * file (not a script run through its interpreter) and a lasting name, made absolute with the
 * directory the program started in. Found once, before main when sockleak starts before main. */
static char program[4096];
static char exe[4096];
static pthread_once_t exe_once = PTHREAD_ONCE_INIT, program_once = PTHREAD_ONCE_INIT;

static void read_exe(void)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
}

/* /proc/self/exe, read once per image (the PROCESS record and the program's module both need
 * it). Empty when it cannot be read. */
const char *sl_exe_path(void)
{
	pthread_once(&exe_once, read_exe);
	return exe;
}

static void build_program_path(void)
{
	/* Built in the static buffer itself: this may run on a program thread's small stack. */
	const char *resolved = sl_exe_path();
	if (!resolved[0])
		return;
	memcpy(program, resolved, strlen(resolved) + 1);
	const char *fn = (const char *)getauxval(AT_EXECFN);
	if (fn && strcmp(fn, resolved) == 0)
		return; /* run by the name it resolves to: nothing to compare */
	struct stat as_run, exe_st;
	/* Not a name that means something else to the analyzer later: /proc/self/exe (a program
	 * that execs itself), /dev/fd/N (fexecve). */
	int lasting = fn && strchr(fn, '/') && strncmp(fn, "/proc/", 6) != 0 && strncmp(fn, "/dev/", 5) != 0;
	if (!lasting || stat(fn, &as_run) != 0 || stat(program, &exe_st) != 0 || as_run.st_dev != exe_st.st_dev ||
	    as_run.st_ino != exe_st.st_ino)
		return;
	size_t len = strlen(fn), at = 0;
	if (fn[0] != '/') {
		if (fn[0] == '.' && fn[1] == '/') {
			fn += 2;
			len -= 2;
		}
		if (!getcwd(program, sizeof(program)))
			goto resolved;
		at = strlen(program);
		if (program[at - 1] != '/')
			program[at++] = '/';
	}
	if (at + len < sizeof(program)) {
		memcpy(program + at, fn, len + 1);
		return;
	}
resolved:
	/* No room, or no current directory: the resolved name after all. */
	memcpy(program, resolved, strlen(resolved) + 1);
}

static const char *program_path(void)
{
	pthread_once(&program_once, build_program_path);
	return program[0] ? program : NULL;
}

/* A name relative to the directory the program started in is made absolute now, before main
 * can change directory. An absolute name (or none) gives the same answer whenever it is asked,
 * so it is found at its first use, which a process that reports nothing and writes no event
 * log never comes to: the readlink, two stat calls and the comparisons cost every process
 * about 3,500 instructions at start-up (issue 12). What differs is a program whose file is
 * deleted or replaced before that first use: /proc/self/exe then names the deleted file. */
__attribute__((constructor)) static void find_program_path(void)
{
	const char *fn = (const char *)getauxval(AT_EXECFN);
	if (fn && fn[0] == '/')
		return;
	int guard = sl_in_hook;
	sl_in_hook = 1;
	program_path();
	sl_in_hook = guard;
}

/* The extent of an object's loaded segments: lo is UINT64_MAX when it has none. */
void sl_object_range(const struct dl_phdr_info *info, uint64_t *lo, uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < *lo)
			*lo = a;
		if (a + ph->p_memsz > *hi)
			*hi = a + ph->p_memsz;
	}
}

static int collect(struct dl_phdr_info *info, size_t size, void *vctx)
{
	struct collect_ctx *c = vctx;
	(void)size;
	if (c->n == c->cap) {
		unsigned ncap = c->cap ? c->cap * 2 : 32;
		struct sl_module *nv = realloc(c->v, ncap * sizeof(*nv));
		if (!nv) {
			c->failed = 1;
			return 1;
		}
		c->v = nv;
		c->cap = ncap;
	}
	struct sl_module *m = &c->v[c->n];
	memset(m, 0, sizeof(*m));
	m->base = info->dlpi_addr;
	sl_object_range(info, &m->lo, &m->hi);
	if (m->lo == UINT64_MAX)
		return 0;
	const char *name = info->dlpi_name;
	if (!name || !name[0]) {
		/* The main program has no name here; the vDSO does but no file. */
		name = c->n == 0 ? program_path() : NULL;
		if (!name)
			return 0;
	}
	/* LD_PRELOAD=build/x.so gives a relative name: the analyzer may run elsewhere. The vDSO's
	 * name (linux-vdso.so.1) is no file: kept as it is, not made absolute against the cwd. */
	uint64_t vdso = (uint64_t)getauxval(AT_SYSINFO_EHDR);
	int is_vdso = vdso && vdso >= m->lo && vdso < m->hi;
	m->path = name[0] == '/' || is_vdso ? strdup(name) : realpath(name, NULL);
	if (!m->path && name[0] != '/')
		m->path = strdup(name);
	if (!m->path) {
		c->failed = 1;
		return 1;
	}
	build_id(info, m);
	c->n++;
	return 0;
}

int sl_modules_collect(struct sl_module **out, unsigned *n)
{
	struct collect_ctx c = {0};
	dl_iterate_phdr(collect, &c);
	*out = c.v;
	*n = c.n;
	return c.failed ? -1 : 0;
}

void sl_modules_free(struct sl_module *mods, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(mods[i].path);
	free(mods);
}

struct self_ctx {
	uint64_t addr, lo, hi;
};

static int find_self(struct dl_phdr_info *info, size_t size, void *vctx)
{
	struct self_ctx *c = vctx;
	(void)size;
	uint64_t lo, hi;
	sl_object_range(info, &lo, &hi);
	if (c->addr >= lo && c->addr < hi) {
		c->lo = lo;
		c->hi = hi;
		return 1;
	}
	return 0;
}

void sl_modules_self_range(const void *addr, uint64_t *lo, uint64_t *hi)
{
	struct self_ctx c = {(uint64_t)addr, 0, 0};
	dl_iterate_phdr(find_self, &c);
	*lo = c.lo;
	*hi = c.hi;
}

/* Modules unmapped by dlclose, oldest first (guarded by sl_lock). Bounded: a program that
 * loads and unloads in a loop keeps the first ones, which made its earliest transports. */
#define UNLOADED_MAX 64
static struct sl_module unloaded[UNLOADED_MAX];
static unsigned nunloaded;

static int same_module(const struct sl_module *a, const struct sl_module *b)
{
	return a->base == b->base && a->lo == b->lo && strcmp(a->path, b->path) == 0;
}

void sl_modules_note_unloaded(const struct sl_module *before, unsigned nbefore, const struct sl_module *after,
			      unsigned nafter)
{
	sl_lock();
	for (unsigned i = 0; i < nbefore && nunloaded < UNLOADED_MAX; i++) {
		int kept = 0;
		for (unsigned k = 0; k < nafter && !kept; k++)
			kept = same_module(&before[i], &after[k]);
		if (kept)
			continue;
		struct sl_module m = before[i];
		m.path = strdup(before[i].path);
		if (m.path)
			unloaded[nunloaded++] = m;
	}
	sl_unlock();
}

static int overlaps(const struct sl_module *a, const struct sl_module *b)
{
	return a->lo < b->hi && b->lo < a->hi;
}

int sl_modules_add_unloaded(struct sl_module **mods, unsigned *n)
{
	sl_lock();
	unsigned have = *n;
	struct sl_module *v = realloc(*mods, (have + nunloaded + 1) * sizeof(*v));
	int rc = v ? 0 : -1;
	for (unsigned i = 0; v && i < nunloaded; i++) {
		/* An address range mapped again since belongs to the module there now. */
		int taken = 0;
		for (unsigned k = 0; k < *n && !taken; k++)
			taken = overlaps(&unloaded[i], &v[k]);
		if (taken)
			continue;
		v[*n] = unloaded[i];
		v[*n].path = strdup(unloaded[i].path);
		if (v[*n].path)
			(*n)++;
	}
	if (v)
		*mods = v;
	sl_unlock();
	return rc;
}
