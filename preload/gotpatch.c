/* Redirecting calls to a few libc functions in the modules already loaded, by rewriting their
 * GOT slots (the addresses their PLT stubs and -fno-plt calls jump through).
 *
 * This is how the data-path interposers (read, write, send, recv, ...) come into being only in
 * processes that need them: exporting them from the preload would put a hook on every read and
 * write of every program, TLS or not. sockleak installs them when a TLS session first needs its
 * traffic watched (datapath.c), and a program without such a session never pays anything. */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gotpatch.h"
#include "preload.h"

struct patch_ctx {
	const struct sl_got_target *targets;
	unsigned ntargets;
	uint64_t self_base;
	uint64_t only;   /* patch only the module with this load bias (when only_set) */
	int only_set;
	unsigned patched;
};

/* Only libraries and executables that call out: libc makes its own calls internally, ld.so and
 * the vDSO have nothing to redirect, this library's own calls must reach libc directly, and
 * libunwind's calls have hooks of their own (unwind_pipe.c). */
static int skip_module(const struct dl_phdr_info *info, const struct patch_ctx *c)
{
	if (c->only_set)
		return info->dlpi_addr != c->only;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	return info->dlpi_addr == c->self_base || !strncmp(base, "libc.so", 7) || !strncmp(base, "ld-linux", 8) ||
	       !strncmp(base, "linux-vdso", 10) || !strncmp(base, "libunwind", 9);
}

/* Dynamic-section addresses: glibc relocates most of them in place when it loads a module, but
 * not on every architecture or for every entry. An address below the load bias is still
 * relative to it. */
static uintptr_t dyn_addr(const struct dl_phdr_info *info, uintptr_t v)
{
	return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

static int write_slot(void **slot, void *value, uintptr_t relro_lo, uintptr_t relro_hi)
{
	uintptr_t a = (uintptr_t)slot;
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t pg = a & ~(uintptr_t)(page - 1);
	int in_relro = a >= relro_lo && a < relro_hi;
	/* Full RELRO made the table read-only after start-up: open the one page, then close it. */
	if (in_relro && mprotect((void *)pg, (size_t)page, PROT_READ | PROT_WRITE) < 0)
		return -1;
	__atomic_store_n(slot, value, __ATOMIC_RELEASE);
	if (in_relro)
		mprotect((void *)pg, (size_t)page, PROT_READ);
	return 0;
}

static void patch_relocs(const struct dl_phdr_info *info, struct patch_ctx *c, const ElfW(Rela) *rel,
			 size_t count, const ElfW(Sym) *symtab, const char *strtab, uintptr_t relro_lo,
			 uintptr_t relro_hi)
{
	for (size_t i = 0; i < count; i++) {
		unsigned long type = ELF64_R_TYPE(rel[i].r_info);
		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
			continue;
		const char *name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
		for (unsigned t = 0; t < c->ntargets; t++) {
			if (strcmp(name, c->targets[t].name) != 0)
				continue;
			void **slot = (void **)(info->dlpi_addr + rel[i].r_offset);
			if (__atomic_load_n(slot, __ATOMIC_RELAXED) != c->targets[t].hook &&
			    write_slot(slot, c->targets[t].hook, relro_lo, relro_hi) == 0)
				c->patched++;
			break;
		}
	}
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *vctx)
{
	struct patch_ctx *c = vctx;
	(void)size;
	if (skip_module(info, c))
		return 0;
	const ElfW(Dyn) *dyn = NULL;
	uintptr_t relro_lo = 0, relro_hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		else if (ph->p_type == PT_GNU_RELRO) {
			relro_lo = info->dlpi_addr + ph->p_vaddr;
			relro_hi = relro_lo + ph->p_memsz;
		}
	}
	if (!dyn)
		return 0;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const ElfW(Rela) *jmprel = NULL, *rela = NULL;
	size_t jmprel_size = 0, rela_size = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_STRTAB: strtab = (const char *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: jmprel_size = dyn->d_un.d_val; break;
		case DT_RELA: rela = (const ElfW(Rela) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_RELASZ: rela_size = dyn->d_un.d_val; break;
		}
	}
	if (!symtab || !strtab)
		return 0;
	if (jmprel)
		patch_relocs(info, c, jmprel, jmprel_size / sizeof(ElfW(Rela)), symtab, strtab, relro_lo, relro_hi);
	if (rela)
		patch_relocs(info, c, rela, rela_size / sizeof(ElfW(Rela)), symtab, strtab, relro_lo, relro_hi);
	return 0;
}

unsigned sl_got_patch(const struct sl_got_target *targets, unsigned n, const void *only_module)
{
	struct patch_ctx c = {targets, n, 0, 0, 0, 0};
	Dl_info info;
	/* dladdr's base is the first segment's address, dl_iterate_phdr's the load bias: for
	 * shared objects, linked at 0, they are the same. */
	if (dladdr((void *)&sl_got_patch, &info))
		c.self_base = (uint64_t)(uintptr_t)info.dli_fbase;
	if (only_module) {
		if (!dladdr(only_module, &info))
			return 0;
		c.only = (uint64_t)(uintptr_t)info.dli_fbase;
		c.only_set = 1;
	}
	dl_iterate_phdr(patch_module, &c);
	return c.patched;
}
