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
#include <stdio.h>
#include <string.h>
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
		return fstat(fd, &st) == 0 && (t->ino == 0 || ((uint64_t)st.st_dev == t->dev && (uint64_t)st.st_ino == t->ino));
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

/* Whether this process has an io_uring instance open. */
static int has_io_uring(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	int found = 0;
	struct dirent *e;
	char path[320], target[64];
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = strcmp(target, "anon_inode:[io_uring]") == 0;
		}
	}
	closedir(d);
	return found;
}

/* Whether the ELF file at fd has a section of either name. One header read at a time: a few
 * hundred bytes of stack, whatever the file says. */
static int has_section(int fd, const char *name1, const char *name2)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strs, sh;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shstrndx >= eh.e_shnum)
		return 0;
	if (pread(fd, &strs, sizeof(strs), (off_t)(eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(sh))) !=
	    (ssize_t)sizeof(strs))
		return 0;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		char name[32];
		if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + (uint64_t)i * sizeof(sh))) != (ssize_t)sizeof(sh))
			return 0;
		if (sh.sh_name >= strs.sh_size)
			continue;
		ssize_t n = pread(fd, name, sizeof(name) - 1, (off_t)(strs.sh_offset + sh.sh_name));
		if (n <= 0)
			continue;
		name[n] = '\0';
		if (strcmp(name, name1) == 0 || strcmp(name, name2) == 0)
			return 1;
	}
	return 0;
}

/* Whether the executable is a Go program: a .go.buildinfo section or a Go build-id note. Only
 * the section headers are read, at exit. */
static int is_go_program(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int found = has_section(fd, ".go.buildinfo", ".note.go.buildid");
	close(fd);
	return found;
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
	if (!(s->blind & SL_BLIND_IO_URING) && has_io_uring())
		blind |= SL_BLIND_IO_URING;
	if (is_go_program())
		blind |= SL_BLIND_GO;
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
