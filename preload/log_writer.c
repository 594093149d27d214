/* The event log (docs/event-log.md): every event, stack and module of this process image,
 * appended to a file mapped with MAP_SHARED. A record costs a memcpy and one store, never a
 * system call. The pages belong to the page cache, so a process killed by SIGKILL still leaves
 * every record it finished. Written only with run_dir.
 *
 * The log must never harm the program (issue 10):
 * - Every page is given its blocks (fallocate) before a store can land in it: a store to a
 *   mapped page the file system cannot back raises SIGBUS, and a full tmpfs or ext4 killed
 *   programs at start-up that way.
 * - No resize goes past RLIMIT_FSIZE: the kernel answers that with SIGXFSZ.
 * - No descriptor is kept: the mapping needs none, and one kept at 900 and up was still 3
 *   whenever RLIMIT_NOFILE was 900 or less, shifting every descriptor the program made. A resize
 *   opens the file again by its path for the moment it takes.
 * When the log cannot grow it stops: a note (written into slack kept free for it) ends it, and
 * the analyzer counts it as lost evidence.
 *
 * The file is made at the image's first event (issue 12), not at its start: most processes a
 * CI job starts (shells, compilers, tools) record none, and creating, reserving, mapping and
 * cutting a file cost each of them more than the rest of sockleak. Until then the image is
 * pending (sl_log_active set, no mapping): what the file opens with (argv, ppid, start time,
 * the modules, a forked child's ids) is kept in memory, an EXIT_PHASE is kept for later, and
 * an EXIT or EXEC is dropped. A process that records nothing writes nothing; that the preload
 * ran at all is told by the run's marker (SL_LOG_RUN_MARKER), made once per run. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/logformat.h"
#include "preload.h"

#define MAP_RESERVE ((size_t)1 << 30) /* virtual space for the log; the file grows inside it */
/* Every byte has its blocks (on tmpfs, its memory) while the process runs: a small start, since
 * a run may have many processes at once. */
#define FIRST_SIZE ((size_t)64 << 10)
#define SMALLEST_SIZE ((size_t)16 << 10) /* a first size below this is not worth a log */
#define SLACK 4096                    /* kept free for the note that says the log stopped */
#define HIGH_FD 900                   /* a resize's brief descriptor, out of the program's way */

/* Whether this image writes an event log: read by every event (sl_apply_locked). */
int sl_log_active;

static struct {
	dev_t dev;
	ino_t ino;
	char path[4096];
	char *map;
	size_t map_size;
	size_t file_size; /* bytes the file has, every one of them with its blocks */
	size_t tail;
	int stopped;      /* the log stopped early: the file is still cut to its length at exit */
	/* Segments: past segment_at bytes the log goes on in a new file that opens with the live
	 * state, and the old one is removed, so that disk and memory follow the live transports,
	 * not the history. */
	uint32_t segment;     /* 0 for the image's first file */
	size_t segment_at;    /* 0: never */
	uint64_t start_ns;    /* the image's first file's: every segment names the image with it */
	int forked_from;
	/* Pending: no file yet; the first record makes it (make_file). */
	int pending;
	uint32_t ppid;             /* getppid() at the image's start (or the fork) */
	int64_t fork_tid, fork_eid; /* a forked child's FORKED ids, as they were at the fork */
	int64_t pending_phase;     /* the last EXIT_PHASE recorded while pending, 0 if none */
	struct sl_module *mods; /* the modules written so far (also rewritten into a child's log) */
	unsigned nmods;
} lw;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The largest size a file of ours may have: growing one past RLIMIT_FSIZE raises SIGXFSZ in the
 * program, which kills it. The program may change the limit at any time: read it each time. */
static size_t size_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)SIZE_MAX)
		return SIZE_MAX;
	return (size_t)rl.rlim_cur;
}

/* Opens our log again by its path, for a resize. O_NOFOLLOW and the identity check: whatever
 * now sits at that path (a planted symlink, another file) is never written through. The
 * descriptor is moved out of the program's range while there is room for it there. */
static int reopen(void)
{
	int fd = open(lw.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_dev != lw.dev || st.st_ino != lw.ino) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	return fd;
}

/* Makes the file `to` bytes long with blocks for every byte from `from`, or fails without a
 * signal (ENOSPC, EFBIG). limit is size_limit(), read by the caller just before. A file system
 * without fallocate gets its zeros written. */
static int reserve(int fd, size_t from, size_t to, size_t limit)
{
	if (to > limit) {
		errno = EFBIG;
		return -1;
	}
	if (fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	static const char zeros[65536];
	for (size_t at = from; at < to;) {
		size_t n = to - at < sizeof(zeros) ? to - at : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		at += (size_t)w;
	}
	return 0;
}

/* mknodat and symlinkat by the syscall instruction itself: imported from the C library, each
 * would cost every process about 800 instructions of relocation at its start (the preload is
 * linked -z now), for a call made once per process image (mknodat) or only when evidence is
 * lost (symlinkat). Returns the call's result, or -1 with errno. */
static long raw_call4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

/* Says that this process lost events without a descriptor: a symbolic link
 * RUN_DIR/lost-evidence.PID.N whose target is the text. The file above cannot be opened when
 * every descriptor is taken (EMFILE: a log made at a process's first socket meets that limit
 * where one made at its start did not), and a link is neither a descriptor nor a file that
 * RLIMIT_FSIZE limits. symlinkat never follows nor replaces what is at the name. */
static int record_lost_link(const char *why)
{
	char path[4200];
	for (int n = 0; n < 100; n++) {
		snprintf(path, sizeof(path), "%s/%s.%d.%d", sl_rt.opt.run_dir, SL_LOG_LOST_FILE, (int)getpid(), n);
		if (raw_call4(SYS_symlinkat, (long)why, AT_FDCWD, (long)path, 0) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	/* No room for a link either (a full disk or inode table, a quota), and no descriptor: the
	 * run's marker is renamed to this process's lost-evidence name, which takes neither a
	 * descriptor, nor an inode, nor a block. The analyzer reads a regular file there as a loss
	 * whose reason could not be written (and as the marker). Without this, a process whose
	 * every descriptor was taken at its first socket, on a full file system, left no trace: the
	 * run passed with "no process recorded a transport". Once the marker is gone, an earlier
	 * process's loss is already there and fails the run. */
	static char marker[4200]; /* not on the stack: lock held, or one thread at start-up */
	snprintf(marker, sizeof(marker), "%s/%s", sl_rt.opt.run_dir, SL_LOG_RUN_MARKER);
	snprintf(path, sizeof(path), "%s/%s.%d.m", sl_rt.opt.run_dir, SL_LOG_LOST_FILE, (int)getpid());
	return renameat2(AT_FDCWD, marker, AT_FDCWD, path, RENAME_NOREPLACE);
}

/* Says, in RUN_DIR/lost-evidence, that this process lost events: when it could not even create
 * its log, that file is the only trace the analyzer gets. 'sockleak run' made the file with
 * blocks reserved beyond its end, so an append needs no new block on a full disk; it is never
 * created here (O_CREAT would let a full disk or a planted name decide). Returns 0 when the line
 * was written. */
static int record_lost(const char *why)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", sl_rt.opt.run_dir, SL_LOG_LOST_FILE);
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return record_lost_link(why);
	char line[600];
	int n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), why);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	for (int i = 0; i < n - 1; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size + (size_t)n <= size_limit())
		rc = write(fd, line, (size_t)n) == n ? 0 : -1;
	close(fd);
	return rc < 0 ? record_lost_link(why) : rc;
}

static void write_stop_note(const char *why);

/* Makes room for size more bytes. Returns 0, or -1 after stopping the log. */
static int ensure(size_t size)
{
	if (lw.tail + size + SLACK <= lw.file_size)
		return 0;
	size_t need = lw.tail + size + SLACK, want = lw.file_size;
	while (want < need)
		want *= 2;
	if (want > lw.map_size) {
		write_stop_note("the event log reached its size limit");
		return -1;
	}
	/* Under a file size limit, grow only as far as it allows. */
	size_t exact = size_limit(), limit = exact & ~(size_t)4095;
	if (want > limit && limit >= need)
		want = limit;
	int saved = errno;
	char why[200];
	int fd = reopen();
	int rc = fd < 0 ? -1 : reserve(fd, lw.file_size, want, exact);
	if (rc < 0)
		snprintf(why, sizeof(why), "the event log could not grow to %zu bytes: %s", want, strerror(errno));
	if (fd >= 0)
		close(fd);
	errno = saved;
	if (rc < 0) {
		write_stop_note(why);
		return -1;
	}
	lw.file_size = want;
	return 0;
}

static char *rec_begin(size_t payload)
{
	size_t size = (sizeof(struct sl_log_rec) + payload + 7) & ~(size_t)7;
	if (!sl_log_active || !lw.map || size > SL_LOG_MAX_RECORD || ensure(size) < 0)
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
	lw.stopped = 1;
	sl_message("%s: the rest of this process's events are not recorded", why);
}

static void write_module(const struct sl_module *m)
{
	if (!lw.map)
		return; /* pending: make_file writes every module kept */
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

/* Every signal blocked on this thread while it holds sockleak's lock, or the loader's, outside
 * a hook: a handler that made a socket there waited for the lock its own thread held, for ever
 * (sockleak's: add_modules; the loader's: dl_iterate_phdr, which the handler's stack walk calls
 * too). A timer handler making sockets while the program called dlopen in a loop hung on
 * 33e646b. Inside a hook, sl_in_hook defers a handler's events instead; here, where nothing
 * would apply them soon, the signal is simply delivered a few microseconds later. */
static void hold_signals(sigset_t *old)
{
	sigset_t all;
	memset(&all, 0xff, sizeof(all)); /* sigfillset: an import more at every start */
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void release_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void sl_log_rescan_modules(void)
{
	if (!sl_log_active)
		return;
	struct sl_module *mods;
	unsigned n;
	sigset_t old;
	hold_signals(&old);
	if (sl_modules_collect(&mods, &n) < 0) {
		release_signals(&old);
		sl_modules_free(mods, n);
		return;
	}
	sl_lock();
	if (sl_log_active)
		add_modules(mods, n);
	sl_unlock();
	release_signals(&old);
	sl_modules_free(mods, n);
}

/* The arguments glibc handed the constructors (the same memory /proc/self/cmdline reads, as the
 * kernel laid it out), used once: by the image's first log, when it is opened before main can
 * have rewritten them (a process title). Priority 101: before sockleak's own constructor, which
 * may open the log. NULL when that log was opened earlier, from a hook. */
static char **start_argv;
static int start_argc;
static int cmdline_taken; /* the image's first log took its command line already */

__attribute__((constructor(101))) static void keep_argv(int argc, char **argv, char **envp)
{
	(void)envp;
	/* AT_BASE 0: the loader was run as the program (ld.so ./prog): glibc hands on argv without
	 * the loader's own name, which /proc/self/cmdline still has; that is read then. */
	if (cmdline_taken)
		return;
	start_argc = argc;
	start_argv = argv;
}

/* argv as NUL-separated strings: the constructor's argv for the image's first log (no system
 * call), else /proc/self/cmdline as it is now (a forked child's, a segment's: the title the
 * program set since). */
static size_t read_cmdline(char *buf, size_t size, uint32_t *argc)
{
	size_t n = 0;
	cmdline_taken = 1;
	if (start_argv && getauxval(AT_BASE) != 0) {
		for (int i = 0; i < start_argc && start_argv[i] && n < size; i++) {
			size_t len = strlen(start_argv[i]) + 1;
			if (len > size - n)
				len = size - n;
			memcpy(buf + n, start_argv[i], len);
			n += len;
		}
		start_argv = NULL;
	} else {
		int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t r;
			while (n < size && (r = read(fd, buf + n, size - n)) > 0)
				n += (size_t)r;
			close(fd);
		}
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

/* The image's command line as it started, copied when its log was opened pending: main may
 * rewrite the memory the constructor's argv points at before the first event makes the file. */
static char first_cmdline[32768];
static size_t first_clen;
static uint32_t first_argc;
static int have_first;

static void write_process(int forked_from)
{
	static char cmdline[32768];
	uint32_t argc = 0;
	const char *cl = cmdline;
	size_t clen;
	if (have_first) {
		cl = first_cmdline;
		clen = first_clen;
		argc = first_argc;
		have_first = 0;
	} else {
		clen = read_cmdline(cmdline, sizeof(cmdline), &argc);
	}
	const char *exe = sl_exe_path();
	size_t elen = strlen(exe);
	size_t payload = sizeof(struct sl_rec_process) + elen + 1 + clen;
	char *rec = rec_begin(payload);
	if (!rec)
		return;
	/* A later segment names the parent as it is now, as it always did. */
	uint32_t ppid = lw.segment ? (uint32_t)getppid() : lw.ppid;
	struct sl_rec_process rp = {.pid = (uint32_t)sl_rt.pid, .ppid = ppid,
				    .forked_from = (uint32_t)forked_from, .argc = argc, .start_ns = lw.start_ns};
	char *p = rec + sizeof(struct sl_log_rec);
	memcpy(p, &rp, sizeof(rp));
	memcpy(p + sizeof(rp), exe, elen + 1);
	memcpy(p + sizeof(rp) + elen + 1, cl, clen);
	rec_commit(rec, SL_REC_PROCESS, payload);
}

/* Creates this image's log file: O_EXCL and O_NOFOLLOW, so that nothing already in the run
 * directory (a file, a planted symlink) is ever written through. With part, the name ends in
 * ".part" (the analyzer reads no such file), and the name without it is free too. */
static int create_file(const char *run_dir, int part)
{
	int pid = (int)sl_rt.pid; /* set before any log of an image or a forked child is opened */
	struct stat st;
	for (int n = 0; n < 1000; n++) {
		snprintf(lw.path, sizeof(lw.path), "%s/sockleak.%d.%d.log", run_dir, pid, n);
		if (part) {
			if (lstat(lw.path, &st) == 0)
				continue;
			strncat(lw.path, ".part", sizeof(lw.path) - strlen(lw.path) - 1);
		}
		int fd = open(lw.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	return -1;
}

/* Creates, reserves and maps a new log file in run_dir, at a temporary name when part is set
 * (a later segment is put in place only once it is complete). Fills lw's file fields. Returns the
 * descriptor's work done (0), or -1 with the reason in why. */
static int map_new_file(const char *run_dir, int part, char *why, size_t whysize)
{
	int fd = create_file(run_dir, part);
	if (fd < 0) {
		snprintf(why, whysize, "cannot create an event log in %s: %s", run_dir, strerror(errno));
		/* The image's first file: the loss is written down, or a run whose other processes
		 * logged would pass without this one (every descriptor taken at its first socket). */
		if (!part)
			record_lost(why);
		return -1;
	}
	struct stat st;
	size_t exact = size_limit(), first = FIRST_SIZE, limit = exact & ~(size_t)4095;
	if (first > limit && limit >= SMALLEST_SIZE)
		first = limit;
	if (fstat(fd, &st) < 0 || reserve(fd, 0, first, exact) < 0) {
		snprintf(why, whysize, "cannot make room for the event log %s: %s", lw.path, strerror(errno));
		goto fail;
	}
	lw.dev = st.st_dev;
	lw.ino = st.st_ino;
	lw.map_size = MAP_RESERVE;
	lw.map = mmap(NULL, lw.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (lw.map == MAP_FAILED) {
		lw.map_size = (size_t)64 << 20;
		lw.map = mmap(NULL, lw.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	}
	if (lw.map == MAP_FAILED) {
		lw.map = NULL;
		snprintf(why, whysize, "cannot map the event log %s: %s", lw.path, strerror(errno));
		goto fail;
	}
	/* The mapping keeps the file: the descriptor would only take a number from the program. */
	close(fd);
	lw.file_size = first;
	lw.tail = SL_LOG_HEADER_SIZE;
	return 0;
fail:
	if (part || record_lost(why) == 0)
		unlink(lw.path);
	close(fd);
	return -1;
}

/* The header, the PROCESS record and the modules: how every file of the image begins. */
static void write_start(void)
{
	struct sl_log_header h = {.version = SL_LOG_VERSION, .header_size = SL_LOG_HEADER_SIZE,
				  .pid = (uint32_t)sl_rt.pid, .segment = lw.segment, .start_ns = lw.start_ns};
	memcpy(h.magic, SL_LOG_MAGIC, 8);
	memcpy(lw.map, &h, sizeof(h));
	sl_log_active = 1;
	write_process(lw.forked_from);
}

/* Makes an empty regular file, mode 0600, that must not exist yet: mknod creates it as
 * open(O_CREAT | O_EXCL | O_NOFOLLOW) would (EEXIST for anything at the name, a symbolic link
 * included), with one system call and without a descriptor, which a process that starts with
 * every descriptor taken has none of. */
static int make_empty(const char *path)
{
	return (int)raw_call4(SYS_mknodat, AT_FDCWD, (long)path, S_IFREG | 0600, 0);
}

/* Marks the run as one the preload took part in: RUN_DIR/SL_LOG_RUN_MARKER, made by the first
 * image of the run that starts (the others find it there). Without it and without any log,
 * 'sockleak run' says that no process loaded the preload, and the gate does not pass. A marker
 * that cannot be made is lost evidence: the run must not pass on it either. */
static void mark_run(const char *run_dir)
{
	static char path[4200];
	snprintf(path, sizeof(path), "%s/%s", run_dir, SL_LOG_RUN_MARKER);
	if (make_empty(path) == 0 || errno == EEXIST)
		return;
	static char why[4400];
	snprintf(why, sizeof(why), "cannot create %s: %s", path, strerror(errno));
	sl_message("%s", why);
	record_lost(why);
}

/* Whether the image this one replaced by exec had a log (it left RUN_DIR/sockleak.PID.exec,
 * see exec_marker): the chain's later images make theirs at their start, so that the report
 * shows how the chain ended. Taken (removed) here: a later process with the same pid must not
 * find it. */
static int exec_marker_path(char *path, size_t size)
{
	return snprintf(path, size, "%s/sockleak.%d.exec", sl_rt.opt.run_dir, (int)sl_rt.pid) < (int)size;
}

static int take_exec_marker(void)
{
	char path[4200];
	return exec_marker_path(path, sizeof(path)) && unlink(path) == 0;
}

/* An exec (a = 0 before it, 1 when it failed and the image goes on) of an image with a file. */
static void exec_marker(int failed)
{
	char path[4200];
	int saved = errno;
	if (exec_marker_path(path, sizeof(path))) {
		if (failed) {
			unlink(path);
		} else {
			make_empty(path);
		}
	}
	errno = saved;
}

static void emit_snapshot(void *ctx, const struct sl_event *ev);

/* Makes the pending image's file and writes what it opens with: the header, the PROCESS record,
 * the modules kept, a forked child's FORKED and what it inherited, an exit phase recorded while
 * pending. Lock held (or one thread at start-up). On failure the program runs on untracked, and
 * the loss is written down (record_lost) for the analyzer; the empty log file is kept only when
 * that could not be done, since an empty log fails the analysis too. */
static void make_file_here(void *unused)
{
	static char why[4400]; /* not on the stack: the program's may be small */
	(void)unused;
	lw.pending = 0;
	if (map_new_file(sl_rt.opt.run_dir, 0, why, sizeof(why)) < 0) {
		sl_log_active = 0;
		sl_message("%s", why);
		sl_disable("the event log could not be created");
		return;
	}
	long kib = sl_rt.opt.log_segment_kib;
	size_t segment_at = kib > 0 ? (size_t)kib << 10 : 0;
	/* No segment inside what the file opens with: a forked child's snapshot describes the state
	 * already applied, and a segment's own snapshot followed by the rest of this one would
	 * apply part of it twice. */
	lw.segment_at = 0;
	write_start();
	for (unsigned i = 0; i < lw.nmods; i++)
		write_module(&lw.mods[i]);
	if (lw.forked_from) {
		struct sl_event forked = {.type = SL_EV_FORKED, .a = lw.fork_tid, .b = lw.fork_eid};
		sl_log_event(&forked);
		sl_state_snapshot(&sl_rt.state, emit_snapshot, NULL);
	}
	if (lw.pending_phase) {
		struct sl_event phase = {.type = SL_EV_EXIT_PHASE, .a = lw.pending_phase};
		sl_log_event(&phase);
	}
	if (sl_log_active && segment_at)
		lw.segment_at = lw.tail > segment_at ? lw.tail + segment_at : segment_at;
}

/* Making the file takes a few KiB of stack (the messages' formatting): a thread with little
 * left (a small thread stack, a signal's alternate stack) makes it on a stack of its own. */
#define MAKE_FILE_BUDGET (16 * 1024)

static void make_file(void)
{
	int saved = errno;
	if (sl_stack_room() >= MAKE_FILE_BUDGET || sl_on_own_stack(make_file_here, NULL, 64 * 1024) < 0)
		make_file_here(NULL);
	errno = saved;
}

/* Before a call that may take away this process's access to the run folder (a change of user
 * id, chroot: preload/hooks_identity.c): a pending log is made now, while the folder can still
 * be written. Made later, at the first socket, its creation failed (EACCES, ENOENT), and so did
 * every way of saying so: a server that dropped root before its first accept passed the gate
 * with "no process recorded a transport". Once made, the log is written through its mapping,
 * as a log made at the start always was. Not from a signal handler that interrupted sockleak
 * on this thread (the lock may be held right here); signals held meanwhile (hold_signals). */
void sl_log_before_access_change(void)
{
	if (!__atomic_load_n(&lw.pending, __ATOMIC_RELAXED) || sl_in_hook || sl_vfork_child)
		return;
	int saved = errno;
	sigset_t old;
	hold_signals(&old);
	sl_in_hook = 1; /* the file's own open and mknod are sockleak's */
	sl_lock();
	if (sl_log_active && lw.pending && !sl_rt.disabled && !sl_rt.state.exited)
		make_file();
	sl_unlock();
	sl_in_hook = 0;
	release_signals(&old);
	errno = saved;
}

/* Starts this image's log at its start, pending: nothing is written until the first event
 * (make_file), unless the image it replaced by exec had a log. forked_from is 0: a forked child's
 * log starts in sl_log_fork_child. Returns -1 when the log was needed at once and could not be
 * made (the program then runs on untracked). */
int sl_log_open(const char *run_dir, int forked_from)
{
	(void)forked_from;
	lw.map = NULL;
	lw.stopped = 0;
	lw.segment = 0;
	lw.segment_at = 0;
	lw.start_ns = now_ns();
	lw.forked_from = 0;
	lw.ppid = (uint32_t)getppid();
	lw.pending_phase = 0;
	mark_run(run_dir);
	first_clen = read_cmdline(first_cmdline, sizeof(first_cmdline), &first_argc);
	have_first = 1;
	/* The modules, read now outside sockleak's lock: the file may be made under it. */
	struct sl_module *mods;
	unsigned n;
	if (sl_modules_collect(&mods, &n) == 0)
		add_modules(mods, n);
	sl_modules_free(mods, n);
	lw.pending = 1;
	sl_log_active = 1;
	if (take_exec_marker()) {
		make_file();
		if (!sl_log_active)
			return -1;
	}
	return 0;
}

static void emit_snapshot(void *ctx, const struct sl_event *ev);

/* Past segment_at (lock held, between two events): the log goes on in a new file that opens
 * with the whole live state, written at a temporary name and renamed into place only when
 * complete; then the old file is removed. A process killed in between leaves both, and the
 * analyzer reads the later one. When the new file cannot be made (no room), the old one goes
 * on, and this is tried again a quarter of a segment later. */
static void next_segment(void)
{
	static char why[4400];
	static char part_path[sizeof(lw.path)];
	static __typeof__(lw) old; /* the log as it was: put back whole when the new file fails */
	size_t step = lw.segment_at > lw.tail ? lw.segment_at : lw.tail;
	size_t retry = lw.tail + step / 4;
	if (!sl_state_can_segment(&sl_rt.state)) {
		lw.segment_at = retry;
		return;
	}
	old = lw;
	int saved = errno;
	if (map_new_file(sl_rt.opt.run_dir, 1, why, sizeof(why)) < 0) {
		lw = old;
		lw.segment_at = retry;
		errno = saved;
		return;
	}
	lw.segment++;
	lw.segment_at = 0; /* no segment inside the snapshot */
	sl_stacks_forget_logged(sl_rt.stacks);
	write_start();
	for (unsigned i = 0; i < lw.nmods; i++)
		write_module(&lw.mods[i]);
	sl_state_segment_snapshot(&sl_rt.state, lw.segment, emit_snapshot, NULL);
	/* The final name: the .part suffix dropped, never over an existing file. */
	memcpy(part_path, lw.path, sizeof(part_path));
	lw.path[strlen(lw.path) - strlen(".part")] = '\0';
	if (!sl_log_active || renameat2(AT_FDCWD, part_path, AT_FDCWD, lw.path, RENAME_NOREPLACE) < 0) {
		/* The new file is not in place (it could not hold the snapshot: the disk is full).
		 * Drop it and end the old one: which stacks the old one defined is forgotten now, so
		 * it cannot go on. The analyzer counts the stop as lost evidence. */
		snprintf(why, sizeof(why), "a new segment of the event log could not be written: %s",
			 sl_log_active ? strerror(errno) : "no room for the live state");
		unlink(part_path);
		munmap(lw.map, lw.map_size);
		lw = old;
		if (sl_log_active) {
			write_stop_note(why);
		} else {
			write_note(why); /* the stop was already told, once */
			lw.stopped = 1;
		}
		errno = saved;
		return;
	}
	struct stat st;
	if (lstat(old.path, &st) == 0 && st.st_dev == old.dev && st.st_ino == old.ino)
		unlink(old.path);
	munmap(old.map, old.map_size);
	long kib = sl_rt.opt.log_segment_kib;
	lw.segment_at = lw.tail + (kib > 0 ? (size_t)kib << 10 : 0);
	errno = saved;
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

/* An exec that succeeds ends the image without an exit, so nothing would cut its file: its
 * reserved blocks would stay behind, for every image of an exec chain. It is cut now to what was
 * written and the slack for a note; an exec that fails grows it again at the next record. */
static void cut_for_exec(void)
{
	size_t keep = (lw.tail + SLACK + 4095) & ~(size_t)4095;
	if (keep >= lw.file_size)
		return;
	int saved = errno;
	int fd = reopen();
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)keep) == 0)
			lw.file_size = keep;
		close(fd);
	}
	errno = saved;
}

void sl_log_event(const struct sl_event *ev)
{
	if (!sl_log_active)
		return;
	if (SL_UNLIKELY(lw.pending)) {
		switch (ev->type) {
		case SL_EV_EXIT_PHASE: /* kept: an atexit handler's socket may make the file yet */
			if (!lw.pending_phase)
				lw.pending_phase = ev->a;
			return;
		case SL_EV_EXIT:   /* the end of an image that recorded nothing */
		case SL_EV_EXEC:
		case SL_EV_FORKED: /* make_file writes a forked child's own */
			return;
		default:
			break;
		}
		make_file();
		if (!sl_log_active)
			return;
	}
	if (lw.segment_at && lw.tail >= lw.segment_at)
		next_segment();
	if (!sl_log_active)
		return;
	log_stack(ev->stack);
	log_stack(ev->pystack);
	if (ev->type == SL_EV_CHECKPOINT)
		log_string((uint32_t)ev->a); /* its label */
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
	if (ev->type == SL_EV_EXEC) {
		exec_marker((int)ev->a);
		if (ev->a == 0)
			cut_for_exec();
	}
}

void sl_log_note(const char *text)
{
	if (!sl_log_active)
		return;
	if (SL_UNLIKELY(lw.pending)) {
		make_file();
		if (!sl_log_active)
			return;
	}
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

/* Counts what a snapshot of the state would write. */
static void count_snapshot(void *ctx, const struct sl_event *ev)
{
	(void)ev;
	++*(unsigned long *)ctx;
}

/* In a forked child (lock held, one thread): the parent's log is not ours to write. The child
 * gets a log of its own that opens with what it inherited: made now when it inherited
 * something (its copies of the parent's transports are part of the run's evidence, as when its
 * log was always made at the fork), else pending like any image, with the ids of the fork kept
 * for its FORKED. */
void sl_log_fork_child(int parent)
{
	/* A parent whose log stopped still tracks live: its child may have room for a log again. */
	if (!sl_log_active && !lw.stopped)
		return;
	sl_log_active = 0;
	lw.stopped = 0;
	if (lw.map)
		munmap(lw.map, lw.map_size);
	lw.map = NULL;
	sl_stacks_forget_logged(sl_rt.stacks);
	lw.segment = 0;
	lw.segment_at = 0;
	lw.start_ns = now_ns();
	lw.forked_from = parent;
	lw.ppid = (uint32_t)getppid();
	lw.pending_phase = 0;
	lw.fork_tid = (int64_t)sl_rt.state.next_transport_id;
	lw.fork_eid = (int64_t)sl_rt.state.next_epoll_id;
	have_first = 0; /* the child's command line is read when its file is made */
	lw.pending = 1;
	sl_log_active = 1;
	unsigned long inherited = 0;
	sl_state_snapshot(&sl_rt.state, count_snapshot, &inherited);
	if (inherited)
		make_file();
}

/* Tracking stopped (sl_disable), said at the exit with the lock held: the log ends with a stop
 * note, so that the analyzer reads it as a log that stopped early (lost evidence, the gate
 * fails) rather than as a process that ended by a raw exit (whose open transports are only
 * warnings). A process with no file yet says it in RUN_DIR/lost-evidence: its events before
 * the stop were never written. The message was said by sl_disable. */
void sl_log_stop(const char *why)
{
	if (!sl_log_active)
		return;
	char text[300];
	snprintf(text, sizeof(text), "%s: tracking stopped, later events are not recorded", why);
	if (lw.pending) {
		record_lost(text);
	} else if (lw.map) {
		write_note(text);
	}
	sl_log_active = 0;
	lw.stopped = 1;
}

/* After the exit event: the file is cut to what was written (a log that stopped early too). */
void sl_log_close(void)
{
	if (!sl_log_active && !lw.stopped)
		return;
	sl_log_active = 0;
	lw.stopped = 0;
	if (lw.pending) {
		lw.pending = 0; /* nothing recorded: no file */
		return;
	}
	int saved = errno;
	/* Unmapped first: cutting a file that a shared mapping still covers made the kernel walk
	 * the mapping's gigabyte of reserved range, 2 to 3 ms at every process's exit. Nothing is
	 * written after the exit event. */
	if (lw.map)
		munmap(lw.map, lw.map_size);
	lw.map = NULL;
	int fd = reopen();
	if (fd >= 0) {
		ftruncate(fd, (off_t)lw.tail);
		close(fd);
	}
	errno = saved;
}
