/* What sockleak cannot see, said out loud at exit (issue 10, item 14). Sockets made or closed
 * by a system call sockleak does not interpose (the syscall instruction itself, io_uring, a Go
 * program's own system calls) are missed, or looked never closed. Before the exit's verdicts,
 * the kernel is asked whether each socket still open in the table is really still there; one
 * that is not was closed out of sight, and is not called never-closed. A process that set up an
 * io_uring, or that is a Go program, gets a note saying which sockets sockleak cannot see,
 * rather than "all finished properly". */
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload.h"

/* Whether the kernel still has a socket of t's kind at fd. */
static int kernel_has(const struct sl_transport *t, int fd)
{
	if (fcntl(fd, F_GETFD) < 0)
		return 0;
	/* A file, pipe or other descriptor (issue 15): the same open file, by device and inode. The
	 * C library closes what fopen or opendir opened inside fclose or closedir, out of sight. */
	if (t->domain == SL_DOMAIN_FD) {
		struct stat st;
		return fstat(fd, &st) == 0 && (t->ino == 0 || ((uint32_t)st.st_dev == t->dev && (uint64_t)st.st_ino == t->ino));
	}
	int domain, type;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return 0; /* not a socket any more */
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 1;
	return (t->domain == 0 || domain == t->domain) && (t->type == 0 || type == t->type);
}

/* Whether this process could have set up an io_uring out of sight: io_uring_setup made through
 * syscall() is seen by its interposer (hooks_fd.c), so what is left is code that makes the
 * system call itself. That is liburing (Debian's liburing2 makes its own system calls) or a
 * library loaded later. Reading /proc/self/fd costs a process 55 to 75 µs at its exit (an open,
 * a getdents64 and a readlink per descriptor: a third of what sockleak adds to a short process,
 * issue 12), so it is read only when an object loaded at start-up defines liburing's names,
 * when that cannot be told, or after a dlopen of the program's (libunwind's, loaded by sockleak,
 * does not count). A program that carries io_uring code of its own
 * without exporting liburing's names (liburing linked statically into an executable) gets no
 * io_uring note (README, Limits). */
static int io_uring_possible(void)
{
	if (__atomic_load_n(&sl_program_dlopened, __ATOMIC_RELAXED))
		return 1;
	return sl_resolve_defined_at_start("io_uring_queue_init") != 0 ||
	       sl_resolve_defined_at_start("io_uring_setup") != 0;
}

/* Whether this process has an io_uring instance open. The directory is read with getdents64
 * into a buffer on the stack, not with opendir: opendir's malloc was the first of a process
 * that never allocates, and set up the allocator's arena at its exit (about 2,500 instructions
 * at every exit, issue 12). */
static int has_io_uring(void)
{
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 0;
	int found = 0;
	/* The path is put together by hand: snprintf cost 600 instructions a descriptor, at every
	 * exit. A descriptor's name is a number, far shorter than the room left for it. */
	static const char prefix[] = "/proc/self/fd/";
	char path[sizeof(prefix) + 32], target[64];
	char buf[1024] __attribute__((aligned(8)));
	memcpy(path, prefix, sizeof(prefix) - 1);
	ssize_t got;
	while (!found && (got = getdents64(dir, buf, sizeof(buf))) > 0) {
		for (ssize_t at = 0; at < got && !found;) {
			const struct dirent64 *e = (const struct dirent64 *)(buf + at);
			at += e->d_reclen;
			if (e->d_name[0] == '.')
				continue;
			size_t len = strnlen(e->d_name, 31);
			memcpy(path + sizeof(prefix) - 1, e->d_name, len);
			path[sizeof(prefix) - 1 + len] = '\0';
			ssize_t n = readlink(path, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				found = strcmp(target, "anon_inode:[io_uring]") == 0;
			}
		}
	}
	close(dir);
	return found;
}

/* Whether the ELF file at fd has a section of either name. The section headers are read 16 at
 * a time, and the section names in one read when they fit in NAMES bytes (they do in a C
 * program, about 280): a header and a name per read took 62 system calls at every exit. It
 * runs on the exit's own stack (ownstack.c); its buffers take 1.5 KiB of it, whatever the file
 * says. */
#define HEADERS_PER_READ 16
#define NAMES 512
static int has_section(int fd, const char *name1, const char *name2)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strs, sh[HEADERS_PER_READ];
	char names[NAMES + 1];
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shstrndx >= eh.e_shnum)
		return 0;
	if (pread(fd, &strs, sizeof(strs), (off_t)(eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(strs))) !=
	    (ssize_t)sizeof(strs))
		return 0;
	ssize_t have = 0; /* the bytes of the name table read at once, when it fits */
	if (strs.sh_size <= NAMES) {
		have = pread(fd, names, (size_t)strs.sh_size, (off_t)strs.sh_offset);
		if (have < 0)
			have = 0;
		names[have] = '\0';
	}
	for (unsigned first = 0; first < eh.e_shnum; first += HEADERS_PER_READ) {
		unsigned k = eh.e_shnum - first < HEADERS_PER_READ ? eh.e_shnum - first : HEADERS_PER_READ;
		if (pread(fd, sh, k * sizeof(sh[0]), (off_t)(eh.e_shoff + (uint64_t)first * sizeof(sh[0]))) !=
		    (ssize_t)(k * sizeof(sh[0])))
			return 0;
		for (unsigned i = 0; i < k; i++) {
			if (sh[i].sh_name >= strs.sh_size)
				continue;
			char one[32];
			const char *name = one;
			if (sh[i].sh_name < (uint64_t)have) {
				name = names + sh[i].sh_name;
			} else {
				ssize_t n = pread(fd, one, sizeof(one) - 1, (off_t)(strs.sh_offset + sh[i].sh_name));
				if (n <= 0)
					continue;
				one[n] = '\0';
			}
			if (strcmp(name, name1) == 0 || strcmp(name, name2) == 0)
				return 1;
		}
	}
	return 0;
}

/* Whether the program's own program headers, as mapped (AT_PHDR: no loader lock, no system
 * call), carry a PT_NOTE with Go's build-id note (owner "Go", type 4, the .note.go.buildid
 * section every go build writes, internally or externally linked). 1 or 0; -1 when the headers
 * cannot be placed (no PT_PHDR to give the load address): the file is read then. A note is read
 * only where a readable PT_LOAD maps it from the file. */
#define GO_NOTE_TYPE 4
static int go_note_in_memory(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = (size_t)getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	int placed = 0;
	for (size_t i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_PHDR) {
			bias = (uintptr_t)ph - (uintptr_t)ph[i].p_vaddr;
			placed = 1;
		}
	if (!placed)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		uintptr_t lo = (uintptr_t)ph[i].p_vaddr, hi = lo + (uintptr_t)ph[i].p_memsz;
		int mapped = 0;
		for (size_t k = 0; k < n && !mapped; k++)
			mapped = ph[k].p_type == PT_LOAD && (ph[k].p_flags & PF_R) && lo >= ph[k].p_vaddr &&
				 hi <= ph[k].p_vaddr + ph[k].p_filesz && hi >= lo;
		if (!mapped)
			continue;
		const char *p = (const char *)(bias + lo), *end = (const char *)(bias + hi);
		while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
			size_t namesz = ((size_t)nh->n_namesz + 3) & ~(size_t)3, descsz = ((size_t)nh->n_descsz + 3) & ~(size_t)3;
			if (namesz > (size_t)(end - p) - sizeof(*nh) || descsz > (size_t)(end - p) - sizeof(*nh) - namesz)
				break;
			const char *name = p + sizeof(*nh);
			/* Go writes the name as "Go\0\0" (n_namesz 4); "Go\0" (3) is taken too. */
			if (nh->n_type == GO_NOTE_TYPE && (nh->n_namesz == 3 || nh->n_namesz == 4) &&
			    memcmp(name, "Go\0", 3) == 0 && (nh->n_namesz == 3 || name[3] == '\0'))
				return 1;
			p = name + namesz + descsz;
		}
	}
	return 0;
}

/* Whether the executable is a Go program: Go's build-id note in its mapped program headers;
 * only when those cannot be placed, a .go.buildinfo section or the note's section in the file
 * (its section headers read at exit). */
static int is_go_program(void)
{
	int in_memory = go_note_in_memory();
	if (in_memory >= 0)
		return in_memory;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int found = has_section(fd, ".go.buildinfo", ".note.go.buildid");
	close(fd);
	return found;
}

/* At start-up (do_init, once per image): a Go program is told at once, not at exit. A Go
 * program leaves through its own exit_group system call, so no exit path of sockleak's ever ran
 * in one: the note was never given. The event goes into the log, and the analyzer gives the note
 * for an image that ended without an exit (run.c); one that exits through exit() says it as
 * before, from the flag. */
void sl_blind_spots_at_start(void)
{
	if (!is_go_program())
		return;
	struct sl_event ev = {.type = SL_EV_BLIND, .a = SL_BLIND_GO};
	sl_lock();
	sl_apply_locked(&ev);
	sl_unlock();
}

static char unseen_note[256]; /* the longest: sockets and other descriptors both */
static const char *notes[4];
static unsigned nnotes;

/* Called by sl_finish with the lock held, before the exit event: applies what the kernel says
 * (SL_EV_CLOSE_UNSEEN, SL_EV_BLIND) and prepares the notes (sl_blind_notes). */
void sl_blind_spots_at_exit(void)
{
	struct sl_state *s = &sl_rt.state;
	unsigned long limit = (unsigned long)s->fdtab_chunks * SL_FDTAB_CHUNK;
	for (unsigned long fd = 0; fd < limit; fd++) {
		struct sl_obj *o = sl_state_lookup(s, (int)fd);
		if (!o || o->kind != SL_OBJ_SOCKET || kernel_has((const struct sl_transport *)o, (int)fd))
			continue;
		struct sl_event ev = {.type = SL_EV_CLOSE_UNSEEN, .fd = (int)fd};
		sl_apply_locked(&ev);
	}
	uint32_t blind = 0;
	if (!(s->blind & SL_BLIND_IO_URING) && io_uring_possible() && has_io_uring())
		blind |= SL_BLIND_IO_URING;
	if (blind) {
		struct sl_event ev = {.type = SL_EV_BLIND, .a = blind};
		sl_apply_locked(&ev);
	}
	nnotes = sl_blind_notes(s, notes, 4, unseen_note, (unsigned)sizeof(unseen_note));
	for (unsigned i = 0; i < nnotes; i++)
		sl_log_note(notes[i]);
}

/* The notes prepared at exit: adds up to max of them to out, returns how many. */
unsigned sl_blind_spot_notes(const char **out, unsigned max)
{
	unsigned n = 0;
	for (; n < nnotes && n < max; n++)
		out[n] = notes[n];
	return n;
}
