/* Finding the real function behind each interposer. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include "preload.h"

/* This library's address range, read once: dladdr() scans symbol tables, and asking it about
 * every candidate of every name cost four million instructions at each process's start. */
static int is_ours(void *p)
{
	static uint64_t lo, hi;
	if (!hi)
		sl_modules_self_range((const void *)&is_ours, &lo, &hi);
	return (uint64_t)(uintptr_t)p >= lo && (uint64_t)(uintptr_t)p < hi;
}

/* RTLD_NEXT finds the next definition after this library; RTLD_DEFAULT is the fallback for
 * symbols that arrived later. Either may hand back our own interposer (when this library was
 * loaded oddly), which must never be called as the "real" one. */
static void *lookup(const char *name)
{
	int saved = errno;
	int guard = sl_in_hook;
	sl_in_hook = 1; /* dlsym may allocate or take locks; nothing it calls may be tracked */
	void *found = dlsym(RTLD_NEXT, name);
	if (!found || is_ours(found)) {
		found = dlsym(RTLD_DEFAULT, name);
		if (found && is_ours(found))
			found = NULL;
	}
	sl_in_hook = guard;
	errno = saved;
	return found;
}

/* Every function an interposer stands in for (SL_REAL and sl_resolve names; tests check the
 * list is complete). A hook's first call must never resolve its name with dlsym: dlsym (like
 * dladdr) takes the dynamic loader's lock, and a thread's first socketpair() never returned
 * while another thread, inside dlopen, ran a library constructor that waited for that thread
 * (tests/reliability/libearly.c loaded with dlopen hung; it runs bare). So the objects are read
 * at start-up and each name is found among them, lock-free, at its first call (sl_resolve);
 * without usable objects, every name is resolved with dlsym at start-up. */
/* Kept as characters, not pointers: an array of pointers needed a relocation for each name,
 * about 1,100 instructions of the loader's at every start-up (issue 12). */
typedef char sl_real_name[20];
static const sl_real_name names[] = {
	"_Exit", "_Fork", "__libc_start_main", "_exit", "accept", "accept4", "bind", "bsd_signal", "close", "close_range",
	"closefrom", "connect", "dlclose", "dlopen", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
	"execv", "execve", "execveat", "execvp", "execvpe", "exit", "fcntl", "fcntl64", "fexecve", "listen",
	"pipe2", "pthread_create", "quick_exit", "read", "recv", "recvfrom", "recvmmsg", "recvmsg", "ruby_sig_finalize", "send", "sendmsg", "sendto",
	"shutdown", "sigaction", "signal", "sigset", "socket", "socketpair", "syscall", "sysv_signal", "vfork", "write",
	/* hooks_files.c (issue 15) */
	"__open64_2", "__open_2", "__openat64_2", "__openat_2", "closedir", "creat", "creat64", "eventfd",
	"fanotify_init", "fclose", "fopen", "fopen64", "freopen", "freopen64", "inotify_init", "inotify_init1",
	"memfd_create", "open", "open64", "openat", "openat64", "opendir", "pclose", "pidfd_open", "pipe",
	"popen", "signalfd", "timerfd_create", "tmpfile", "tmpfile64",
	/* hooks_files.c (review of issues 12 and 15) */
	"mkostemp", "mkostemp64", "mkostemps", "mkostemps64", "mkstemp", "mkstemp64", "mkstemps", "mkstemps64",
	"getpt", "openpty", "posix_openpt", "shm_open",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
static void *resolved[NNAMES];
static int resolved_ready;

/* ---- one walk of the loaded objects' symbol tables ----
 *
 * A dlsym per name cost 49,000 instructions at the start of every process (about 1,000 each:
 * dlerror's bookkeeping, the loader's lock, a search of every object in scope). The names are
 * looked up instead in the dynamic symbol tables of the objects loaded at start-up, found with
 * one dl_iterate_phdr, through each table's GNU hash (its Bloom filter turns most objects away
 * in a few instructions): about 300 instructions a name. It runs where dlsym ran, in the
 * constructor (or the first hook), so it takes the loader's lock no more often than before.
 *
 * The search is dlsym's: RTLD_NEXT first (the objects after this library, in load order), then
 * RTLD_DEFAULT (the objects before it: the program); this library's own definitions are never
 * taken. Of a versioned name, the default version is taken (not a hidden one), as dlsym does.
 * An object with only a DT_HASH table (--hash-style=sysv) is searched through that one. */
#define MAX_OBJECTS 64
struct object {
	uintptr_t base;
	const Elf64_Sym *symtab;
	const char *strtab;
	const uint32_t *gnu_hash;
	const uint32_t *sysv_hash; /* DT_HASH, searched when there is no GNU hash table */
	const Elf64_Half *versym;
	const Elf64_Verdef *verdef; /* the versions the object defines (their names) */
	Elf64_Xword verdefnum;
};
struct objects {
	struct object v[MAX_OBJECTS];
	unsigned n;
	unsigned self; /* the index of this library: MAX_OBJECTS when not found */
	unsigned libc; /* the index of the C library: MAX_OBJECTS when not found */
	int incomplete; /* an object could not be read: dlsym for everything */
	uint64_t self_lo, self_hi; /* this library's mapped range */
};

/* strcmp's answer to "equal?", written out: the binding of sockleak's own imports, strcmp among
 * them, runs this (sl_lazy_bind). */
static int same_name(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, Elf64_Addr p)
{
	/* The loader rewrites most objects' dynamic entries to addresses; the vDSO's (and any it
	 * left alone) are still offsets from the base. */
	return p < info->dlpi_addr ? info->dlpi_addr + p : p;
}

/* Reads an object's dynamic symbol table (found by dl_iterate_phdr) into ob. Returns 0 for an
 * object with nothing to look up in (a static part of the program), 1 when ob was read, -1 for
 * an object that cannot be searched without dlsym (no GNU hash table). */
static int read_object(const struct dl_phdr_info *info, struct object *ob, int *is_self, int *is_libc)
{
	*ob = (struct object){.base = info->dlpi_addr};
	const Elf64_Dyn *dyn = NULL;
	uintptr_t self = (uintptr_t)&read_object;
	*is_self = 0;
	*is_libc = 0;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const Elf64_Phdr *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(info->dlpi_addr + ph->p_vaddr);
		if (ph->p_type == PT_LOAD && self - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
			*is_self = 1;
	}
	if (!dyn)
		return 0;
	Elf64_Xword soname = 0;
	int has_soname = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB:
			ob->symtab = (const Elf64_Sym *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_STRTAB:
			ob->strtab = (const char *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_GNU_HASH:
			ob->gnu_hash = (const uint32_t *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_HASH:
			ob->sysv_hash = (const uint32_t *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_VERSYM:
			ob->versym = (const Elf64_Half *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_VERDEF:
			ob->verdef = (const Elf64_Verdef *)dyn_ptr(info, dyn->d_un.d_ptr);
			break;
		case DT_VERDEFNUM:
			ob->verdefnum = dyn->d_un.d_val;
			break;
		case DT_SONAME:
			soname = dyn->d_un.d_val;
			has_soname = 1;
			break;
		}
	}
	/* An object with only the older DT_HASH table (linked with --hash-style=sysv) is searched
	 * through it: sent to dlsym instead, a first call of sockleak's own import waited for the
	 * loader's lock in a hook (review of issue 12). */
	if (!ob->symtab || !ob->strtab || (!ob->gnu_hash && !ob->sysv_hash))
		return -1;
	/* The C library ends the search for sockleak's own imports (sl_lazy_bind). */
	if (has_soname)
		*is_libc = same_name(ob->strtab + soname, "libc.so.6");
	return 1;
}

/* The vDSO, by the name the loader gives it (the kernel's soname for it on x86-64): getauxval,
 * which would tell its address, is bound lazily itself, and this runs before that is cheap. */
static int is_vdso(const struct dl_phdr_info *info)
{
	return info->dlpi_name && same_name(info->dlpi_name, "linux-vdso.so.1");
}

static int collect_object(struct dl_phdr_info *info, size_t size, void *p)
{
	(void)size;
	struct objects *o = p;
	if (o->n == MAX_OBJECTS) {
		o->incomplete = 1;
		return 1;
	}
	/* The vDSO defines none of the names (only clock_gettime and its kind), and some kernels
	 * build it without a GNU hash table. */
	if (is_vdso(info))
		return 0;
	struct object ob;
	int is_self, is_libc;
	int r = read_object(info, &ob, &is_self, &is_libc);
	if (is_self) {
		o->self = o->n;
		sl_object_range(info, &o->self_lo, &o->self_hi);
	}
	if (r == 0)
		return 0;
	if (r < 0) {
		o->incomplete = 1;
		return 1;
	}
	if (is_libc && o->libc == MAX_OBJECTS)
		o->libc = o->n;
	o->v[o->n++] = ob;
	return 0;
}

static uint32_t gnu_hash(const char *name)
{
	uint32_t h = 5381;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = h * 33 + *c;
	return h;
}

/* The name of version ndx that ob defines ("" when it has none by that number). */
static const char *version_name(const struct object *ob, unsigned ndx)
{
	const Elf64_Verdef *vd = ob->verdef;
	for (Elf64_Xword k = 0; vd && k < ob->verdefnum; k++) {
		if ((vd->vd_ndx & 0x7fff) == ndx && !(vd->vd_flags & VER_FLG_BASE)) {
			const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)vd + vd->vd_aux);
			return ob->strtab + aux->vda_name;
		}
		if (!vd->vd_next)
			break;
		vd = (const Elf64_Verdef *)((const char *)vd + vd->vd_next);
	}
	return "";
}

/* Asks find_sym for any definition of the name, whatever its version. */
static const char any_version[] = "";

/* Whether symbol i of ob defines name as it is looked for: with version NULL, as dlsym takes it
 * (the default version, not a hidden one); with a version, as the loader binds a reference to
 * name@version: a definition of that version (hidden or not), or one without a version, and
 * never one of another version (a library that defines malloc@@ITS_OWN is passed over). */
static inline __attribute__((always_inline)) int matches(const struct object *ob, uint32_t i, const char *name,
						       const char *version)
{
	const Elf64_Sym *sym = &ob->symtab[i];
	if (sym->st_shndx == SHN_UNDEF || !same_name(name, ob->strtab + sym->st_name))
		return 0;
	/* The types dlsym takes (all but STT_TLS): a function written in assembly without .type
	 * is STT_NOTYPE, and an interposer's may be. */
	int type = ELF64_ST_TYPE(sym->st_info), bind = ELF64_ST_BIND(sym->st_info);
	int typed = type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE || type == STT_OBJECT ||
		    type == STT_COMMON;
	if (!typed || sym->st_value == 0 || (bind != STB_GLOBAL && bind != STB_WEAK))
		return 0;
	if (!ob->versym || version == any_version)
		return 1;
	unsigned v = ob->versym[i], ndx = v & 0x7fff;
	if (version && ndx > 1)
		return same_name(version, version_name(ob, ndx));
	return !(v & 0x8000);
}

/* The same search through a DT_HASH table (the System V hash, computed here). */
static uint32_t find_sysv(const struct object *ob, const char *name, const char *version)
{
	const uint32_t *t = ob->sysv_hash;
	uint32_t nbucket = t[0], nchain = t[1], h = 0;
	if (nbucket == 0)
		return 0;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		h = (h << 4) + *c;
		uint32_t g = h & 0xf0000000u;
		h ^= g >> 24;
		h &= ~g;
	}
	const uint32_t *chain = &t[2 + nbucket];
	for (uint32_t i = t[2 + h % nbucket], n = 0; i != STN_UNDEF && i < nchain && n < nchain; i = chain[i], n++)
		if (matches(ob, i, name, version))
			return i;
	return 0;
}

/* The index of the symbol that defines name in ob (see matches), or 0. */
static inline __attribute__((always_inline)) uint32_t find_sym(const struct object *ob, const char *name, uint32_t h,
							    const char *version)
{
	if (!ob->gnu_hash)
		return find_sysv(ob, name, version);
	const uint32_t *t = ob->gnu_hash;
	uint32_t nbuckets = t[0], symoffset = t[1], bloom_size = t[2], bloom_shift = t[3];
	if (nbuckets == 0 || bloom_size == 0)
		return 0;
	const uint64_t *bloom = (const uint64_t *)&t[4];
	const uint32_t *buckets = (const uint32_t *)&bloom[bloom_size];
	const uint32_t *chain = &buckets[nbuckets];
	uint64_t word = bloom[(h / 64) % bloom_size];
	uint64_t mask = (1ull << (h % 64)) | (1ull << ((h >> bloom_shift) % 64));
	if ((word & mask) != mask)
		return 0;
	uint32_t i = buckets[h % nbuckets];
	if (i < symoffset)
		return 0;
	for (;; i++) {
		uint32_t h2 = chain[i - symoffset];
		if ((h | 1) == (h2 | 1) && matches(ob, i, name, version))
			return i;
		if (h2 & 1)
			return 0;
	}
}

/* The address symbol i of ob stands for (an IFUNC's choice), or NULL for 0. */
static void *address_of(const struct object *ob, uint32_t i)
{
	if (!i)
		return NULL;
	const Elf64_Sym *sym = &ob->symtab[i];
	void *addr = (void *)(ob->base + sym->st_value);
	if (ELF64_ST_TYPE(sym->st_info) == STT_GNU_IFUNC)
		addr = ((void *(*)(void))addr)();
	return addr;
}

/* The address name is defined at in ob, as dlsym takes it, or NULL. */
static void *find_in(const struct object *ob, const char *name, uint32_t h)
{
	return address_of(ob, find_sym(ob, name, h, NULL));
}

/* The objects loaded at start-up, read once by sl_resolve_all; after that only read. */
int sl_dlopen_called; /* a dlopen was made (hooks_dl.c): set before the call */
int sl_program_dlopened; /* the program loaded a library with dlopen (not sockleak's own dlopen) */
static struct objects objs; /* 1.3 KiB: not on a small stack a first hook may be on */
static int walk_usable;

/* What dlsym(RTLD_NEXT) would find among the objects loaded at start-up: the objects after this
 * library, then the program's. Memory reads only: no lock, no allocation. */
static void *walk(const char *name)
{
	uint32_t h = gnu_hash(name);
	void *found = NULL;
	for (unsigned k = objs.self + 1; k < objs.n && !found; k++)
		found = find_in(&objs.v[k], name, h);
	for (unsigned k = 0; k < objs.self && !found; k++)
		found = find_in(&objs.v[k], name, h);
	return found;
}

static void lazy_objs_ready(void);

static int listed(const char *name)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* In the constructor (or the first hook): the objects are collected, and each name is then
 * looked up at its hook's first call, among them, with no lock taken: a process pays for the
 * names it calls, not for all 120 (about 200 instructions each, issue 12). When the objects
 * cannot be read, every name is resolved here with dlsym, as before. */
void sl_resolve_all(void)
{
	objs.n = 0;
	objs.incomplete = 0;
	objs.self = MAX_OBJECTS;
	objs.libc = MAX_OBJECTS;
	int saved = errno;
	dl_iterate_phdr(collect_object, &objs);
	errno = saved;
	int usable = !objs.incomplete && objs.self < objs.n;
	/* Only objects that stay loaded may be walked later: those the loader loaded at start-up
	 * (never unloaded). An object dlopen'ed before this point (by a constructor that ran
	 * first) could be dlclose'd, and a later walk would read its unmapped tables: then every
	 * name is looked up now, while the tables are there. */
	walk_usable = usable && !__atomic_load_n(&sl_dlopen_called, __ATOMIC_RELAXED);
	if (!walk_usable)
		for (size_t i = 0; i < NNAMES; i++)
			resolved[i] = usable ? walk(names[i]) : lookup(names[i]);
	lazy_objs_ready();
	__atomic_store_n(&resolved_ready, 1, __ATOMIC_RELEASE);
}

void *sl_resolve(const char *name)
{
	if (__atomic_load_n(&resolved_ready, __ATOMIC_ACQUIRE)) {
		if (walk_usable) {
			void *found = walk(name);
			/* Every object loaded was searched: a listed name none defines would not be
			 * found by dlsym either (ruby_sig_finalize outside Ruby), and a hook must not
			 * take the loader's lock to hear it. Another name may be in an object loaded
			 * later, where only dlsym looks. */
			return found || listed(name) ? found : lookup(name);
		}
		for (size_t i = 0; i < NNAMES; i++)
			if (resolved[i] && strcmp(names[i], name) == 0)
				return resolved[i];
	}
	return lookup(name);
}

/* This library's mapped range, as sl_modules_self_range finds it, from the objects read at
 * start-up (one dl_iterate_phdr fewer at every start-up). -1 when they were not read. */
int sl_resolve_self_range(uint64_t *lo, uint64_t *hi)
{
	if (!__atomic_load_n(&resolved_ready, __ATOMIC_ACQUIRE) || objs.self >= objs.n)
		return -1;
	*lo = objs.self_lo;
	*hi = objs.self_hi;
	return 0;
}

/* Whether an object loaded at start-up defines name: 1 yes, 0 no, -1 when that cannot be told
 * (the objects could not be read, or a dlopen came before they were). Found with the walk, no
 * lock: a question a process without the answer would otherwise put to dlsym, whose failing
 * search of every object costs about 2,000 instructions (issue 12). While no dlopen was made,
 * the objects read at start-up are all dlsym(RTLD_DEFAULT) would search. */
int sl_resolve_defined_at_start(const char *name)
{
	if (!__atomic_load_n(&resolved_ready, __ATOMIC_ACQUIRE) || !walk_usable)
		return -1;
	uint32_t h = gnu_hash(name);
	for (unsigned k = 0; k < objs.n; k++)
		if (k != objs.self && find_in(&objs.v[k], name, h))
			return 1;
	return 0;
}

/* ---- sockleak's own imports, bound at their first call ----
 *
 * The loader bound every C library function sockleak calls at each process's start (-z now):
 * about 100 lookups, 71,000 instructions, in a process that may never open a socket (issue 12).
 * Bound lazily by glibc instead, a hook's first call would run the loader's resolver, which
 * saves the whole vector state on the stack and takes the loader's lock (docs/reliability.md,
 * issue 10). So the names in preload/lazy_imports.list are bound here, at their first call,
 * through a trampoline each (preload/lazy_imports.sh, lazy_imports_x86_64.S): no lock, no
 * allocation, a few hundred bytes of stack, safe in a signal handler and in two threads at
 * once (each finds the same address and stores it).
 *
 * The binding is the loader's: the first definition in the global scope in load order (the
 * program, the preloaded libraries such as another allocator, then the C library), of the
 * name's default version, an IFUNC's choice called as the loader calls it. sockleak itself is
 * searched in its place: a name it defines (close, open ...) binds its own calls to its own
 * interposer, unless the program before it exports one. The search stops at
 * the C library, which defines every listed name: every object before it was loaded at
 * start-up and is never unloaded, so its tables can be read at any time without a lock. */
#if defined(SL_LAZY_IMPORTS)
extern void *sl_lazy_slots[];
extern const uint32_t sl_lazy_count;
extern const uint16_t sl_lazy_names[];
extern const uint32_t sl_lazy_hashes[];
extern const char sl_lazy_strs[];

/* objs, once sl_resolve_all has read them with the C library among them. */
static int lazy_objs_usable;

/* The search without objs (before sl_resolve_all, or where it could not read them): one
 * dl_iterate_phdr, whose lock is the loader's short one around its list of objects (not the
 * one dlopen holds while running constructors). */
struct lazy_query {
	const char *name;
	uint32_t h;
	const char *version;
	void *found;
};

/* The version of name the static linker records for sockleak's call: the C library's default
 * one when sockleak was built against this C library (NULL for a name it defines without one).
 * The loader binds that reference to a definition of that version or of none: a library that
 * defines malloc and free under a version of its own is passed over, by the program's calls
 * as by sockleak's (bound to it, sockleak freed the C library's strdup with its free). */
static const char *libc_version(const struct object *libc, const char *name, uint32_t h)
{
	uint32_t i = find_sym(libc, name, h, NULL);
	if (!i || !libc->versym || (libc->versym[i] & 0x7fff) <= 1)
		return NULL;
	return version_name(libc, libc->versym[i] & 0x7fff);
}

static int lazy_version_cb(struct dl_phdr_info *info, size_t size, void *p)
{
	(void)size;
	struct lazy_query *q = p;
	if (is_vdso(info))
		return 0;
	struct object ob;
	int is_self, is_libc;
	if (read_object(info, &ob, &is_self, &is_libc) <= 0 || !is_libc)
		return 0;
	q->version = libc_version(&ob, q->name, q->h);
	return 1;
}

static int lazy_find_cb(struct dl_phdr_info *info, size_t size, void *p)
{
	(void)size;
	struct lazy_query *q = p;
	if (is_vdso(info))
		return 0;
	struct object ob;
	int is_self, is_libc;
	int r = read_object(info, &ob, &is_self, &is_libc);
	if (r < 0)
		return 1; /* an object that cannot be searched: dlsym's turn */
	if (r > 0)
		q->found = address_of(&ob, find_sym(&ob, q->name, q->h, q->version));
	return q->found || is_libc;
}

static void *lazy_find(const char *name, uint32_t h)
{
	if (__atomic_load_n(&lazy_objs_usable, __ATOMIC_ACQUIRE)) {
		/* The C library's definition is its default version. An object before it that
		 * defines the name plainly (no version, not hidden: the program's malloc, sockleak's
		 * close) is taken at once; one that defines it under a version is searched again
		 * for the version the loader would look for, which only then is asked of the C
		 * library (about 8,000 instructions at every start-up when asked for every name). */
		const char *version = NULL;
		for (unsigned k = 0; k <= objs.libc; k++) {
			const struct object *ob = &objs.v[k];
			if (k == objs.libc) {
				uint32_t i = find_sym(ob, name, h, NULL);
				if (i)
					return address_of(ob, i);
				break;
			}
			uint32_t i = find_sym(ob, name, h, any_version);
			if (i && ob->versym && ((ob->versym[i] & 0x7fff) > 1 || (ob->versym[i] & 0x8000))) {
				if (!version)
					version = libc_version(&objs.v[objs.libc], name, h);
				i = find_sym(ob, name, h, version);
			}
			if (i)
				return address_of(ob, i);
		}
	} else {
		/* Two walks: the C library, last, tells the version looked for. */
		struct lazy_query q = {.name = name, .h = h};
		dl_iterate_phdr(lazy_version_cb, &q);
		dl_iterate_phdr(lazy_find_cb, &q);
		if (q.found)
			return q.found;
	}
	/* Objects sockleak cannot read, or a name the C library does not define (one of the
	 * loader's own): the loader's search, with its lock. */
	return dlsym(RTLD_DEFAULT, name);
}

/* The end when a listed name is nowhere: the loader would have refused to load sockleak. Said
 * with the system calls themselves, since any function sockleak calls may be the missing one
 * (and the loop that counts the name's length is kept a loop: GCC makes a strlen of it). */
static __attribute__((noreturn, noinline, optimize("no-tree-loop-distribute-patterns"))) void
lazy_missing(const char *name)
{
	static const char what[] = "sockleak: this C library lacks a function sockleak needs: ";
	size_t len = 0;
	while (name[len])
		len++;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(1L), "D"(2L), "S"(what), "d"(sizeof(what) - 1) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : "=a"(ret) : "0"(1L), "D"(2L), "S"(name), "d"(len) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : "=a"(ret) : "0"(1L), "D"(2L), "S"("\n"), "d"(1L) : "rcx", "r11", "memory");
	for (;;)
		__asm__ volatile("syscall" : "=a"(ret) : "0"(231L), "D"(127L) : "rcx", "r11", "memory");
}

/* Called by sl_lazy_common with the import's index: returns its address, stored in its slot. */
__attribute__((visibility("hidden"))) void *sl_lazy_bind(unsigned i)
{
	int *err = __errno_location(), saved = *err;
	const char *name = sl_lazy_strs + sl_lazy_names[i];
	void *addr = lazy_find(name, sl_lazy_hashes[i]);
	if (!addr)
		lazy_missing(name);
	__atomic_store_n(&sl_lazy_slots[i], addr, __ATOMIC_RELAXED);
	*err = saved;
	return addr;
}

/* The objects are read: every one up to the C library was (the reading stops at the first it
 * cannot read), and they are searched from now on without a dl_iterate_phdr. */
static void lazy_objs_ready(void)
{
	if (objs.libc < objs.n)
		__atomic_store_n(&lazy_objs_usable, 1, __ATOMIC_RELEASE);
}

/* For tests, not an API: the name of sockleak's lazily bound import i (NULL past the last), and
 * in *addr the function it is bound to: NULL when its first call has not come yet, unless bind
 * is set, which binds it now. tests/reliability/lazy_imports.c compares each with what the
 * loader gives, and counts the names a first call bound. */
SL_EXPORT const char *sockleak_lazy_import(unsigned i, void **addr, int bind)
{
	if (i >= sl_lazy_count)
		return NULL;
	void *slot = __atomic_load_n(&sl_lazy_slots[i], __ATOMIC_RELAXED);
	if (!slot && bind)
		slot = sl_lazy_bind(i);
	*addr = slot;
	return sl_lazy_strs + sl_lazy_names[i];
}
#else
static void lazy_objs_ready(void)
{
}

SL_EXPORT const char *sockleak_lazy_import(unsigned i, void **addr, int bind)
{
	(void)i;
	(void)addr;
	(void)bind;
	return NULL;
}
#endif

/* For tests, not an API: the function sockleak calls as name's real one (NULL if none).
 * tests/reliability/resolved_names.c compares it with what dlsym finds in the C library. */
SL_EXPORT void *sockleak_resolved(const char *name)
{
	return sl_resolve(name);
}
