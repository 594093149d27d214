/* The event log (docs/event-log.md): every event, stack and module of this process image,
 * appended to a file mapped with MAP_SHARED. A record costs a memcpy and one store, never a
 * system call; the file grows (ftruncate) by doubling. The pages belong to the page cache, so a
 * process killed by SIGKILL still leaves every record it finished. Written only with run_dir. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/logformat.h"
#include "preload.h"

#define MAP_RESERVE ((size_t)1 << 30) /* virtual space for the log; the file grows inside it */
#define FIRST_SIZE ((size_t)256 << 10)
#define SLACK 4096                    /* kept free for the note that says the log stopped */
#define HIGH_FD 900                   /* keep our descriptor out of the program's way */

/* Whether this image writes an event log: read by every event (sl_apply_locked). */
int sl_log_active;

static struct {
	int fd;
	dev_t dev;
	ino_t ino;
	char path[4096];
	char *map;
	size_t map_size;
	size_t file_size;
	size_t tail;
	struct sl_module *mods; /* the modules written so far (also rewritten into a child's log) */
	unsigned nmods;
} lw;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Our descriptor may have been closed or replaced by the program (closefrom, dup2 onto it):
 * check it is still our file before resizing it, and reopen the path if not. */
static int own_fd(void)
{
	struct stat st;
	if (fstat(lw.fd, &st) == 0 && st.st_dev == lw.dev && st.st_ino == lw.ino)
		return 0;
	int fd = open(lw.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_dev != lw.dev || st.st_ino != lw.ino) {
		close(fd);
		return -1;
	}
	int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	lw.fd = fd;
	return 0;
}

/* Closes our descriptor, if it still is ours. A program that closed it (closefrom(3)) may have
 * put a descriptor of its own on that number: a forked child of such a program had its socket
 * at 900 closed here, and the child's new event log opened in its place (the logfd fault test). */
static void close_if_ours(void)
{
	struct stat st;
	if (fstat(lw.fd, &st) == 0 && st.st_dev == lw.dev && st.st_ino == lw.ino)
		close(lw.fd);
}

static void write_stop_note(const char *why);

/* Makes room for size more bytes. Returns 0, or -1 after stopping the log. */
static int ensure(size_t size)
{
	if (lw.tail + size + SLACK <= lw.file_size)
		return 0;
	size_t want = lw.file_size;
	while (want < lw.tail + size + SLACK)
		want *= 2;
	if (want > lw.map_size) {
		write_stop_note("the event log reached its size limit");
		return -1;
	}
	if (own_fd() < 0 || ftruncate(lw.fd, (off_t)want) < 0) {
		write_stop_note("the event log could not grow");
		return -1;
	}
	lw.file_size = want;
	return 0;
}

static char *rec_begin(size_t payload)
{
	size_t size = (sizeof(struct sl_log_rec) + payload + 7) & ~(size_t)7;
	if (!sl_log_active || size > SL_LOG_MAX_RECORD || ensure(size) < 0)
		return NULL;
	return lw.map + lw.tail;
}

/* Publishes a record whose payload is in place: the header word is stored last. */
static void rec_commit(char *rec, uint16_t type, size_t payload)
{
	size_t size = (sizeof(struct sl_log_rec) + payload + 7) & ~(size_t)7;
	struct sl_log_rec h = {(uint32_t)size, type, SL_LOG_COMMIT};
	uint64_t word;
	memcpy(&word, &h, sizeof(word));
	__atomic_store_n((uint64_t *)(void *)rec, word, __ATOMIC_RELEASE);
	lw.tail += size;
}

static void write_note(const char *text)
{
	size_t n = strlen(text) + 1;
	char *rec = lw.map + lw.tail;
	if (lw.tail + sizeof(struct sl_log_rec) + n + 8 > lw.file_size)
		return;
	memcpy(rec + sizeof(struct sl_log_rec), text, n);
	rec_commit(rec, SL_REC_NOTE, n);
}

static void write_stop_note(const char *why)
{
	write_note(why);
	sl_log_active = 0;
	sl_message("%s: the rest of this process's events are not recorded", why);
}

static void write_module(const struct sl_module *m)
{
	size_t plen = strlen(m->path) + 1;
	char *rec = rec_begin(sizeof(struct sl_rec_module) + plen);
	if (!rec)
		return;
	struct sl_rec_module rm = {.base = m->base, .lo = m->lo, .hi = m->hi, .build_id_len = m->build_id_len};
	memcpy(rm.build_id, m->build_id, sizeof(rm.build_id));
	memcpy(rec + sizeof(struct sl_log_rec), &rm, sizeof(rm));
	memcpy(rec + sizeof(struct sl_log_rec) + sizeof(rm), m->path, plen);
	rec_commit(rec, SL_REC_MODULE, sizeof(rm) + plen);
}

static int known_module(const struct sl_module *m)
{
	for (unsigned i = 0; i < lw.nmods; i++)
		if (lw.mods[i].base == m->base && lw.mods[i].lo == m->lo && !strcmp(lw.mods[i].path, m->path))
			return 1;
	return 0;
}

/* Adds the modules mapped now that the log has not named yet (lock held). The list is read by
 * the caller outside the lock: dl_iterate_phdr takes the loader's lock, and a thread holding that
 * one (running a library constructor) may be waiting for ours. */
static void add_modules(struct sl_module *mods, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (known_module(&mods[i]))
			continue;
		struct sl_module *nv = realloc(lw.mods, (lw.nmods + 1) * sizeof(*nv));
		if (!nv)
			return;
		lw.mods = nv;
		lw.mods[lw.nmods] = mods[i];
		lw.mods[lw.nmods].path = strdup(mods[i].path);
		if (!lw.mods[lw.nmods].path)
			return;
		write_module(&lw.mods[lw.nmods++]);
	}
}

void sl_log_rescan_modules(void)
{
	if (!sl_log_active)
		return;
	struct sl_module *mods;
	unsigned n;
	if (sl_modules_collect(&mods, &n) < 0) {
		sl_modules_free(mods, n);
		return;
	}
	sl_lock();
	if (sl_log_active)
		add_modules(mods, n);
	sl_unlock();
	sl_modules_free(mods, n);
}

/* /proc/self/cmdline: argv as NUL-separated strings, read at start-up (main has not run yet). */
static size_t read_cmdline(char *buf, size_t size, uint32_t *argc)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	if (fd >= 0) {
		ssize_t r;
		while (n < size && (r = read(fd, buf + n, size - n)) > 0)
			n += (size_t)r;
		close(fd);
	}
	if (n == size)
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] != '\0')
		buf[n++] = '\0';
	*argc = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			(*argc)++;
	return n;
}

static void write_process(int forked_from)
{
	static char cmdline[32768];
	char exe[4096];
	uint32_t argc = 0;
	size_t clen = read_cmdline(cmdline, sizeof(cmdline), &argc);
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (elen < 0)
		elen = 0;
	exe[elen] = '\0';
	size_t payload = sizeof(struct sl_rec_process) + (size_t)elen + 1 + clen;
	char *rec = rec_begin(payload);
	if (!rec)
		return;
	struct sl_rec_process rp = {.pid = (uint32_t)getpid(), .ppid = (uint32_t)getppid(),
				    .forked_from = (uint32_t)forked_from, .argc = argc, .start_ns = now_ns()};
	char *p = rec + sizeof(struct sl_log_rec);
	memcpy(p, &rp, sizeof(rp));
	memcpy(p + sizeof(rp), exe, (size_t)elen + 1);
	memcpy(p + sizeof(rp) + elen + 1, cmdline, clen);
	rec_commit(rec, SL_REC_PROCESS, payload);
}

/* Creates this image's log file: O_EXCL and O_NOFOLLOW, so that nothing already in the run
 * directory (a file, a planted symlink) is ever written through. */
static int create_file(const char *run_dir)
{
	int pid = (int)getpid();
	for (int n = 0; n < 1000; n++) {
		snprintf(lw.path, sizeof(lw.path), "%s/sockleak.%d.%d.log", run_dir, pid, n);
		int fd = open(lw.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
			if (high >= 0) {
				close(fd);
				fd = high;
			}
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	sl_message("cannot create an event log in %s: %s", run_dir, strerror(errno));
	return -1;
}

int sl_log_open(const char *run_dir, int forked_from)
{
	lw.fd = create_file(run_dir);
	if (lw.fd < 0)
		return -1;
	struct stat st;
	if (fstat(lw.fd, &st) < 0 || ftruncate(lw.fd, (off_t)FIRST_SIZE) < 0)
		goto fail;
	lw.dev = st.st_dev;
	lw.ino = st.st_ino;
	lw.map_size = MAP_RESERVE;
	lw.map = mmap(NULL, lw.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, lw.fd, 0);
	if (lw.map == MAP_FAILED) {
		lw.map_size = (size_t)64 << 20;
		lw.map = mmap(NULL, lw.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, lw.fd, 0);
	}
	if (lw.map == MAP_FAILED) {
		lw.map = NULL;
		goto fail;
	}
	lw.file_size = FIRST_SIZE;
	struct sl_log_header h = {.version = SL_LOG_VERSION, .header_size = SL_LOG_HEADER_SIZE,
				  .pid = (uint32_t)getpid(), .start_ns = now_ns()};
	memcpy(h.magic, SL_LOG_MAGIC, 8);
	memcpy(lw.map, &h, sizeof(h));
	lw.tail = SL_LOG_HEADER_SIZE;
	sl_log_active = 1;
	write_process(forked_from);
	if (forked_from) {
		for (unsigned i = 0; i < lw.nmods; i++)
			write_module(&lw.mods[i]);
	} else {
		struct sl_module *mods;
		unsigned n;
		if (sl_modules_collect(&mods, &n) == 0)
			add_modules(mods, n);
		sl_modules_free(mods, n);
	}
	return 0;
fail:
	sl_message("cannot set up the event log %s: %s", lw.path, strerror(errno));
	close(lw.fd);
	return -1;
}

static void log_string(uint32_t id)
{
	if (!id || sl_stacks_string_test_and_mark_logged(sl_rt.stacks, id))
		return;
	const char *s = sl_stacks_string(sl_rt.stacks, id);
	size_t len = strlen(s);
	char *rec = rec_begin(sizeof(struct sl_rec_string) + len);
	if (!rec)
		return;
	struct sl_rec_string rs = {id, (uint32_t)len};
	memcpy(rec + sizeof(struct sl_log_rec), &rs, sizeof(rs));
	memcpy(rec + sizeof(struct sl_log_rec) + sizeof(rs), s, len);
	rec_commit(rec, SL_REC_STRING, sizeof(rs) + len);
}

static void log_stack(uint32_t id)
{
	if (!id || sl_stacks_test_and_mark_logged(sl_rt.stacks, id))
		return;
	unsigned depth = 0;
	const uint64_t *w = NULL;
	int kind = sl_stacks_get(sl_rt.stacks, id, &depth, &w);
	if (!kind)
		return;
	unsigned nwords = kind == SL_STACK_PYTHON ? depth * 2 : depth;
	if (kind == SL_STACK_PYTHON) {
		for (unsigned i = 0; i < depth; i++) {
			struct sl_pyframe f = sl_pyframe_at(w, i);
			log_string(f.file);
			log_string(f.function);
		}
	}
	size_t payload = sizeof(struct sl_rec_stack) + nwords * 8;
	char *rec = rec_begin(payload);
	if (!rec)
		return;
	struct sl_rec_stack rs = {id, (uint16_t)kind, (uint16_t)depth};
	memcpy(rec + sizeof(struct sl_log_rec), &rs, sizeof(rs));
	memcpy(rec + sizeof(struct sl_log_rec) + sizeof(rs), w, nwords * 8);
	rec_commit(rec, SL_REC_STACK, payload);
}

void sl_log_event(const struct sl_event *ev)
{
	if (!sl_log_active)
		return;
	log_stack(ev->stack);
	log_stack(ev->pystack);
	size_t alen = ev->addr ? ev->addrlen : 0;
	char *rec = rec_begin(sizeof(struct sl_rec_event) + alen);
	if (!rec)
		return;
	struct sl_rec_event re = {.type = ev->type, .addrlen = (uint16_t)alen, .fd = ev->fd, .fd2 = ev->fd2,
				  .stack = ev->stack, .pystack = ev->pystack, .a = ev->a, .b = ev->b, .obj = ev->obj};
	memcpy(rec + sizeof(struct sl_log_rec), &re, sizeof(re));
	if (alen)
		memcpy(rec + sizeof(struct sl_log_rec) + sizeof(re), ev->addr, alen);
	rec_commit(rec, SL_REC_EVENT, sizeof(re) + alen);
}

void sl_log_note(const char *text)
{
	if (!sl_log_active)
		return;
	size_t n = strlen(text) + 1;
	char *rec = rec_begin(n);
	if (!rec)
		return;
	memcpy(rec + sizeof(struct sl_log_rec), text, n);
	rec_commit(rec, SL_REC_NOTE, n);
}

static void emit_snapshot(void *ctx, const struct sl_event *ev)
{
	(void)ctx;
	sl_log_event(ev);
}

/* In a forked child (lock held, one thread): the parent's log is not ours to write. Start a
 * log of our own that opens with what the child inherited. */
void sl_log_fork_child(int parent)
{
	if (!sl_log_active)
		return;
	sl_log_active = 0;
	munmap(lw.map, lw.map_size);
	close_if_ours();
	lw.map = NULL;
	sl_stacks_forget_logged(sl_rt.stacks);
	if (sl_log_open(sl_rt.opt.run_dir, parent) < 0) {
		sl_rt.disabled = 1;
		return;
	}
	struct sl_event forked = {.type = SL_EV_FORKED, .a = (int64_t)sl_rt.state.next_transport_id,
				  .b = (int64_t)sl_rt.state.next_epoll_id};
	sl_log_event(&forked);
	sl_state_snapshot(&sl_rt.state, emit_snapshot, NULL);
}

/* After the exit event: the file is cut to what was written. */
void sl_log_close(void)
{
	if (!sl_log_active)
		return;
	sl_log_active = 0;
	if (own_fd() == 0) {
		ftruncate(lw.fd, (off_t)lw.tail);
		close(lw.fd);
	}
}
