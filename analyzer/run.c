#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/event.h"
#include "../core/logformat.h"

/* The largest log the preload writes: its mapping reserves 1 GiB. */
#define MAX_LOG_BYTES ((size_t)1 << 30)
#define MAX_STATUS_BYTES ((size_t)16 << 20)

/* Prints a message about the input on errs ("sockleak-report: " first) and keeps it. */
static void problem(struct sl_run *run, FILE *errs, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(struct sl_run *run, FILE *errs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fprintf(errs, "sockleak-report: %s\n", s);
	char **nv = realloc(run->problems, (run->nproblems + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return;
	}
	run->problems = nv;
	run->problems[run->nproblems++] = s;
}

/* ---- finding the logs ---- */

struct found {
	char *path;
	unsigned long pid, seq;
	int named; /* the name is sockleak.PID.N.log */
};

struct found_list {
	struct found *v;
	size_t n, cap;
};

static int add_found(struct found_list *l, char *path, unsigned long pid, unsigned long seq, int named)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct found *nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = (struct found){path, pid, seq, named};
	return 0;
}

/* Parses "sockleak.PID.N.log". */
static int parse_log_name(const char *name, unsigned long *pid, unsigned long *seq)
{
	const char *p = name;
	if (strncmp(p, "sockleak.", 9) != 0)
		return 0;
	p += 9;
	char *end;
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	*pid = strtoul(p, &end, 10);
	if (errno || *end != '.' || end[1] < '0' || end[1] > '9')
		return 0;
	p = end + 1;
	*seq = strtoul(p, &end, 10);
	return !errno && strcmp(end, ".log") == 0;
}

static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *s = malloc(a + b + 2);
	if (!s)
		return NULL;
	memcpy(s, dir, a);
	s[a] = '/';
	memcpy(s + a + 1, name, b + 1);
	return s;
}

static int by_name(const void *x, const void *y)
{
	const struct found *a = x, *b = y;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return strcmp(a->path, b->path);
}

static void add_lost(struct sl_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* DIR/lost-evidence.PID.N: a symbolic link whose target is what process PID lost, left by a
 * process that could not open the lost-evidence file (every descriptor taken). Read with
 * readlink: never followed. DIR/lost-evidence.PID.m, an empty regular file: the run's marker,
 * renamed there when not even a link could be made. Returns 1 for that one (the preload ran). */
static int read_lost_link(struct sl_run *run, int dirfd, const char *name)
{
	char text[SL_IMAGE_NOTE_MAX + 1];
	unsigned long pid = strtoul(name + strlen(SL_LOG_LOST_FILE) + 1, NULL, 10);
	ssize_t n = readlinkat(dirfd, name, text, sizeof(text) - 1);
	struct stat st;
	if (n < 0 && errno == EINVAL && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == 0) {
		/* The run's marker, renamed by a process that had no descriptor and no room for a
		 * link (preload/log_writer.c, record_lost_link): it lost events, and it loaded the
		 * preload. */
		add_lost(run, "process %lu: lost events, and could not say why (no descriptor left, and no room in "
			 "the run directory for a link)", pid);
		return 1;
	}
	if (n < 0) {
		add_lost(run, "%s: a process lost events, and what it said cannot be read (%s)", name, strerror(errno));
		return 0;
	}
	text[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = '?';
	add_lost(run, "process %lu: %s", pid, text);
	return 0;
}

static int list_dir(struct sl_run *run, const char *dir, struct found_list *l, FILE *errs)
{
	DIR *d = opendir(dir);
	if (!d) {
		problem(run, errs, "%s: cannot read the directory: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	size_t before = l->n;
	int marker = 0;
	while ((e = readdir(d)) != NULL) {
		unsigned long pid, seq;
		if (!strcmp(e->d_name, SL_LOG_RUN_MARKER) && (e->d_type == DT_REG || e->d_type == DT_UNKNOWN))
			marker = 1;
		if (!strncmp(e->d_name, SL_LOG_LOST_FILE ".", strlen(SL_LOG_LOST_FILE) + 1) &&
		    read_lost_link(run, dirfd(d), e->d_name))
			marker = 1;
		if (!parse_log_name(e->d_name, &pid, &seq))
			continue;
		char *path = join(dir, e->d_name);
		if (!path || add_found(l, path, pid, seq, 1) < 0) {
			free(path);
			closedir(d);
			problem(run, errs, "out of memory");
			return -1;
		}
	}
	closedir(d);
	/* A process makes its log at its first event: a run whose processes recorded none has only
	 * the marker the first of them made. Without it, no process loaded the preload. */
	if (l->n == before && marker)
		run->no_events++;
	else if (l->n == before)
		problem(run, errs, "%s: no event logs (sockleak.PID.N.log) in this directory: no "
			"process ran with the preload (a static or setuid program ignores LD_PRELOAD)", dir);
	return 0;
}

/* Reads a whole file, refusing anything but a regular file (a FIFO would block, a device
 * never end). */
static unsigned char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errsize)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errsize, "cannot open: %s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(err, errsize, "%lld bytes, larger than any sockleak writes", (long long)st.st_size);
		close(fd);
		return NULL;
	}
	size_t want = (size_t)st.st_size;
	unsigned char *buf = malloc(want ? want : 1);
	size_t got = 0;
	while (buf && got < want) {
		ssize_t r = read(fd, buf + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsize, "read failed: %s", strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break; /* it shrank while being read: take what is there */
		got += (size_t)r;
	}
	close(fd);
	if (!buf)
		snprintf(err, errsize, "out of memory");
	*len = got;
	return buf;
}

/* ---- segments ---- */

/* What the header says of a file's image: pid, start time and segment number. */
struct seg_key {
	size_t index;
	uint32_t pid, segment;
	uint64_t start_ns;
};

static int read_seg_key(const char *path, struct seg_key *k)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	unsigned char h[SL_LOG_HEADER_SIZE];
	struct stat st;
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		 memcmp(h, SL_LOG_MAGIC, 8) == 0;
	close(fd);
	if (!ok)
		return -1;
	uint32_t version;
	memcpy(&version, h + 8, 4);
	memcpy(&k->pid, h + 16, 4);
	memcpy(&k->segment, h + 20, 4);
	memcpy(&k->start_ns, h + 24, 8);
	if (version < 2)
		k->segment = 0;
	return 0;
}

static int by_image(const void *x, const void *y)
{
	const struct seg_key *a = x, *b = y;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return a->segment < b->segment ? -1 : a->segment > b->segment;
}

/* A later segment of an image holds all of its state (docs/event-log.md, "Segments"): the
 * earlier files of the image are left out. Both are there only when the process died between
 * putting the new one in place and removing the old. */
static void drop_superseded(struct sl_run *run, struct found_list *l)
{
	struct seg_key *k = calloc(l->n ? l->n : 1, sizeof(*k));
	char *drop = calloc(l->n ? l->n : 1, 1);
	size_t nk = 0;
	for (size_t i = 0; k && drop && i < l->n; i++) {
		if (read_seg_key(l->v[i].path, &k[nk]) == 0)
			k[nk++].index = i;
	}
	if (k && drop) {
		qsort(k, nk, sizeof(*k), by_image);
		for (size_t i = 0; i + 1 < nk; i++)
			if (k[i].pid == k[i + 1].pid && k[i].start_ns == k[i + 1].start_ns)
				drop[k[i].index] = 1;
		size_t n = 0;
		for (size_t i = 0; i < l->n; i++) {
			if (drop[i]) {
				free(l->v[i].path);
				run->superseded++;
			} else {
				l->v[n++] = l->v[i];
			}
		}
		l->n = n;
	}
	free(k);
	free(drop);
}

/* ---- the exit-status file ---- */

struct exit_note {
	uint32_t pid;
	int running;   /* still running when the run ended */
	int signal;    /* the signal it died of, 0 if none */
	int status;    /* its exit status, -1 if none */
};

struct exit_notes {
	struct exit_note *v;
	size_t n;
};

/* The last line about a pid is the one that counts: a pid reused within a run ends twice. */
static const struct exit_note *exit_note_of(const struct exit_notes *en, uint32_t pid)
{
	for (size_t i = en->n; i-- > 0;)
		if (en->v[i].pid == pid)
			return &en->v[i];
	return NULL;
}

static void read_status_file(struct sl_run *run, struct exit_notes *en, const char *dir, FILE *errs)
{
	char *path = join(dir, SL_RUN_STATUS_FILE);
	if (!path)
		return;
	struct stat st;
	if (lstat(path, &st) < 0) {
		free(path);
		return; /* analyzing logs the wrapper did not write: no statuses */
	}
	char err[256];
	size_t len = 0;
	char *text = (char *)read_file(path, MAX_STATUS_BYTES, &len, err, sizeof(err));
	if (!text) {
		problem(run, errs, "%s: %s (exit statuses not used)", path, err);
		free(path);
		return;
	}
	unsigned lineno = 0;
	for (size_t pos = 0; pos < len;) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		char line[128];
		size_t n = eol - pos < sizeof(line) - 1 ? eol - pos : sizeof(line) - 1;
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos = eol + 1;
		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r")] == '\0')
			continue;
		unsigned long pid = 0;
		long value = 0;
		char what[16], extra;
		int k = sscanf(line, "%lu %15s %ld %c", &pid, what, &value, &extra);
		struct exit_note e = {(uint32_t)pid, 0, 0, -1};
		if (k == 2 && !strcmp(what, "running"))
			e.running = 1;
		else if (k == 3 && !strcmp(what, "signal") && value > 0 && value < 128)
			e.signal = (int)value;
		else if (k == 3 && !strcmp(what, "exit") && value >= 0 && value < 256)
			e.status = (int)value;
		else {
			problem(run, errs, "%s:%u: expected 'PID exit STATUS', 'PID signal N' or 'PID running' "
				"(line ignored)", path, lineno);
			continue;
		}
		if (pid == 0 || pid > UINT32_MAX)
			continue;
		if ((en->n & (en->n - 1)) == 0) {
			struct exit_note *nv = realloc(en->v, (en->n ? en->n * 2 : 1) * sizeof(*nv));
			if (!nv)
				break;
			en->v = nv;
		}
		en->v[en->n++] = e;
	}
	free(text);
	free(path);
}

/* ---- lost evidence ---- */

#define MAX_LOST_LINES 1000 /* kept; more are counted in one line */

static void add_lost(struct sl_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_lost(struct sl_run *run, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		s = NULL;
	char **nv = realloc(run->lost, (run->nlost + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return;
	}
	run->lost = nv;
	/* Even without memory for the text, the loss is counted: it must fail the gate. */
	run->lost[run->nlost++] = s;
}

/* DIR/lost-evidence (SL_LOG_LOST_FILE): "PID what" for each process that could not log. */
static void read_lost_file(struct sl_run *run, const char *dir, FILE *errs)
{
	char *path = join(dir, SL_LOG_LOST_FILE);
	if (!path)
		return;
	struct stat st;
	if (lstat(path, &st) < 0) {
		free(path);
		return;
	}
	char err[256];
	size_t len = 0;
	char *text = (char *)read_file(path, MAX_STATUS_BYTES, &len, err, sizeof(err));
	if (!text) {
		/* What the file would have said is unknown: that itself is lost evidence. */
		problem(run, errs, "%s: %s", path, err);
		add_lost(run, "%s could not be read (%s): processes that lost events may be unnamed", path, err);
		free(path);
		return;
	}
	unsigned lines = 0, more = 0;
	for (size_t pos = 0; pos < len;) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		size_t n = eol - pos;
		const char *line = text + pos;
		pos = eol + 1;
		if (n == 0)
			continue;
		if (++lines > MAX_LOST_LINES) {
			more++;
			continue;
		}
		char clean[SL_IMAGE_NOTE_MAX + 1];
		size_t k = n < SL_IMAGE_NOTE_MAX ? n : SL_IMAGE_NOTE_MAX;
		for (size_t i = 0; i < k; i++)
			clean[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
		clean[k] = '\0';
		char *rest;
		errno = 0;
		unsigned long pid = strtoul(clean, &rest, 10);
		if (!errno && rest != clean && *rest == ' ' && pid > 0 && pid <= UINT32_MAX)
			add_lost(run, "process %lu: %s", pid, rest + 1);
		else
			add_lost(run, "%s", clean);
	}
	if (more)
		add_lost(run, "and %u more lines in %s", more, path);
	free(text);
	free(path);
}

/* ---- linking the tree ---- */

static int by_start(const void *x, const void *y)
{
	const struct sl_run_image *a = *(struct sl_run_image *const *)x, *b = *(struct sl_run_image *const *)y;
	if (a->img.start_ns != b->img.start_ns)
		return a->img.start_ns < b->img.start_ns ? -1 : 1;
	if (a->img.pid != b->img.pid)
		return a->img.pid < b->img.pid ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* A small map from pid to the latest image of that pid seen so far (open addressing). */
struct pid_map {
	struct pid_slot {
		uint32_t pid;
		int index; /* -1: empty */
	} *v;
	size_t cap; /* a power of two, at least twice the images */
};

static struct pid_slot *pid_slot(struct pid_map *m, uint32_t pid)
{
	size_t k = (size_t)((pid * 0x9e3779b97f4a7c15ull) >> 32) & (m->cap - 1);
	while (m->v[k].index >= 0 && m->v[k].pid != pid)
		k = (k + 1) & (m->cap - 1);
	return &m->v[k];
}

static void link_tree(struct sl_run *run)
{
	struct pid_map m = {NULL, 16};
	while (m.cap < (size_t)run->n * 2)
		m.cap *= 2;
	m.v = malloc(m.cap * sizeof(*m.v));
	for (unsigned i = 0; i < run->n; i++)
		run->v[i]->parent = run->v[i]->exec_of = -1;
	if (!m.v)
		return; /* no tree: every process a root */
	for (size_t k = 0; k < m.cap; k++)
		m.v[k].index = -1;
	/* In order of start: a parent's image always started before its child's, so every link
	 * points backwards and no log, however hostile, can make a cycle. */
	for (unsigned i = 0; i < run->n; i++) {
		struct sl_run_image *ri = run->v[i];
		struct pid_slot *same = pid_slot(&m, ri->img.pid);
		if (same->index >= 0 && run->v[same->index]->img.end == SL_END_EXEC && !ri->img.forked_from) {
			/* The image this one replaced: same pid, and it ended with exec. */
			ri->exec_of = same->index;
			ri->parent = run->v[same->index]->parent;
		} else {
			uint32_t ppid = ri->img.forked_from ? ri->img.forked_from : ri->img.ppid;
			if (ppid != ri->img.pid) {
				struct pid_slot *par = pid_slot(&m, ppid);
				if (par->index >= 0)
					ri->parent = par->index;
			}
		}
		same->pid = ri->img.pid;
		same->index = (int)i;
	}
	free(m.v);
}

/* ---- notes and the symbolizer's modules ---- */

static void add_note(struct sl_run_image *ri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(struct sl_run_image *ri, const char *fmt, ...)
{
	if (ri->nnotes >= sizeof(ri->notes) / sizeof(ri->notes[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) >= 0)
		ri->notes[ri->nnotes++] = s;
	va_end(ap);
}

/* The modules a log names are files the analyzer will open: only regular files are handed to
 * the symbolizer (a log naming a FIFO must not make the analyzer wait forever). */
static struct sl_module *modules_for_report(const struct sl_image *img)
{
	struct sl_module *m = calloc(img->nmods ? img->nmods : 1, sizeof(*m));
	if (!m)
		return NULL;
	for (unsigned i = 0; i < img->nmods; i++) {
		m[i] = img->mods[i];
		struct stat st;
		if (m[i].path[0] == '/' && (stat(m[i].path, &st) < 0 || !S_ISREG(st.st_mode)))
			m[i].path = m[i].path + 1; /* no leading '/': shown, not opened */
	}
	return m;
}

/* An image with nothing to report needs none of its replay: its arena goes, and the state keeps
 * only the facts the report prints (how it ended, how many transports it made). */
static void compact(struct sl_run_image *ri)
{
	struct sl_state *s = ri->state;
	sl_image_drop_replay(&ri->img);
	/* Only the chunks below fdtab_chunks were ever set: the rest of the table is still the
	 * pool's zero pages, untouched (a process that opened few descriptors touched one page). */
	memset(s->fdtab, 0, s->fdtab_chunks * sizeof(s->fdtab[0]));
	s->fdtab_chunks = 0;
	s->stacks = NULL;
	s->arena = NULL;
	s->tls = NULL;
}

/* ---- loading ---- */

/* Reads and replays one log, and finishes its image: how it ended, the notes the report shows,
 * and, when it has nothing to report, everything but the facts the report prints released at
 * once (a run of thousands of processes must not hold thousands of replays). Returns the image,
 * or NULL when the file names no process. */
static struct sl_run_image *load_one(struct sl_run *run, const struct found *fd, struct sl_state *state,
				     const struct sl_state_config *cfg, const struct exit_notes *en, FILE *errs)
{
	struct sl_run_image *ri = calloc(1, sizeof(*ri));
	if (!ri) {
		problem(run, errs, "out of memory");
		return NULL;
	}
	ri->file = fd->path;
	ri->seq = fd->seq;
	ri->exit_status = -1;
	ri->state = state;
	char err[256];
	size_t len = 0;
	unsigned char *buf = read_file(ri->file, MAX_LOG_BYTES, &len, err, sizeof(err));
	if (!buf) {
		problem(run, errs, "%s: %s", ri->file, err);
		run->unreadable++;
		free(ri);
		return NULL;
	}
	struct sl_image *img = &ri->img;
	int rc = sl_log_replay(img, state, cfg, buf, len);
	free(buf);
	if (rc < 0) {
		problem(run, errs, "%s: byte %llu: %s", ri->file, (unsigned long long)img->error_offset, img->error);
		run->unreadable++;
	} else if (fd->named && img->pid != fd->pid) {
		problem(run, errs, "%s: byte 16: the header names pid %u, the file name pid %lu", ri->file, img->pid,
			fd->pid);
		run->unreadable++;
		img->have_process = 0;
	}
	if (!img->have_process) {
		sl_image_free(img);
		free(ri);
		return NULL;
	}

	const struct exit_note *note = img->end == SL_END_NONE ? exit_note_of(en, img->pid) : NULL;
	if (note) {
		ri->running = note->running;
		ri->signal = note->signal;
		ri->exit_status = note->status;
	}
	switch (img->end) {
	case SL_END_NONE:
		if (ri->running) {
			add_note(ri, "still running when the run ended: its open transports are not judged");
			break;
		}
		/* The wrapper saw it exit, but its log has no exit: it made the exit system call itself.
		 * It was not killed, but it left as a killed process does, without exit-time cleanup. */
		if (ri->exit_status >= 0)
			add_note(ri, "exited with status %d through a raw exit system call (not killed; exit() and "
				 "_exit() were not called, so no exit-time cleanup ran): its open transports are "
				 "reported as at a death", ri->exit_status);
		sl_image_finish_killed(img);
		run->killed++;
		break;
	case SL_END_CORRUPT:
		add_note(ri, "its event log is damaged at byte %llu (%s): later events are lost, and the transports "
			 "open there are not judged", (unsigned long long)img->error_offset, img->error);
		break;
	case SL_END_STOPPED: {
		add_note(ri, "its event log stopped early: later events are lost, and the transports open there are "
			 "not judged");
		char cmd[120];
		/* The stop note is the log's last record: the last note kept, unless some were not. */
		const char *why = img->nnotes && !img->notes_dropped ? img->notes[img->nnotes - 1] : NULL;
		add_lost(run, "process %u (%s): its event log stopped early%s%s", img->pid,
			 sl_run_cmdline(ri, cmd, sizeof(cmd)), why ? ": " : "", why ? why : "");
		break;
	}
	default:
		break;
	}
	if (img->out_of_memory || state->out_of_memory)
		add_note(ri, "the analyzer ran out of memory replaying this log: the report may miss findings");
	for (unsigned k = 0; k < img->nnotes; k++)
		add_note(ri, "%s", img->notes[k]);
	if (img->notes_dropped)
		add_note(ri, "and %u more notes in its event log", img->notes_dropped);
	if (img->end != SL_END_EXIT) {
		/* No exit path wrote the blind-spot notes (a Go program leaves through its own
		 * exit_group; a killed or exec'd image never reaches it): given from the flags its events
		 * set, each once. */
		const char *blind[4];
		char unseen[160];
		unsigned nb = sl_blind_notes(state, blind, 4, unseen, (unsigned)sizeof(unseen));
		for (unsigned b = 0; b < nb; b++) {
			int told = 0;
			for (unsigned k = 0; k < img->nnotes && !told; k++)
				told = strcmp(img->notes[k], blind[b]) == 0;
			if (!told)
				add_note(ri, "%s", blind[b]);
		}
	}

	/* An image that did not exit (exec, still running, a cut log) is not judged at an exit,
	 * but what was already found on its open transports stands. */
	if (!state->exited)
		sl_state_list_open_findings(state);
	if (!state->done_head && !img->ncheckpoints)
		compact(ri);
	else
		ri->report_mods = modules_for_report(img);
	return ri;
}

int sl_run_load(struct sl_run *run, char *const *paths, int npaths, const struct sl_state_config *cfg, FILE *errs)
{
	memset(run, 0, sizeof(*run));
	struct found_list l = {0};
	struct exit_notes en = {0};
	int dir_errors = 0;
	for (int i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0) {
			problem(run, errs, "%s: %s", paths[i], strerror(errno));
			dir_errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (list_dir(run, paths[i], &l, errs) < 0)
				dir_errors++;
			read_status_file(run, &en, paths[i], errs);
			read_lost_file(run, paths[i], errs);
			continue;
		}
		unsigned long pid = 0, seq = 0;
		const char *base = strrchr(paths[i], '/');
		int named = parse_log_name(base ? base + 1 : paths[i], &pid, &seq);
		char *copy = strdup(paths[i]);
		if (!copy || add_found(&l, copy, pid, seq, named) < 0) {
			free(copy);
			problem(run, errs, "out of memory");
			free(en.v);
			return -1;
		}
	}
	qsort(l.v, l.n, sizeof(*l.v), by_name);
	drop_superseded(run, &l);
	run->files = (unsigned)l.n;
	run->unreadable = (unsigned)dir_errors;
	if (l.n == 0) {
		free(l.v);
		free(en.v);
		/* Every path a run directory whose processes recorded no event: nothing to report. */
		return !dir_errors && npaths > 0 && run->no_events == (unsigned)npaths ? 0 : -1;
	}
	run->v = calloc(l.n, sizeof(*run->v));
	run->pool_bytes = l.n * sizeof(struct sl_state);
	/* One mapping for every state: a run of thousands of processes must not cost thousands of
	 * mappings, and the pages a compacted state gave back cost nothing. */
	run->pool = mmap(NULL, run->pool_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
	if (!run->v || run->pool == MAP_FAILED) {
		run->pool = NULL;
		problem(run, errs, "out of memory for %zu logs", l.n);
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i].path);
		free(l.v);
		free(en.v);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct sl_run_image *ri = load_one(run, &l.v[i], &run->pool[i], cfg, &en, errs);
		if (ri)
			run->v[run->n++] = ri;
		else
			free(l.v[i].path);
	}
	free(l.v);
	free(en.v);
	if (run->n == 0)
		return -1;

	/* The images stay where they are (a replay's state points into its image's arena): only
	 * the pointers are ordered. */
	qsort(run->v, run->n, sizeof(*run->v), by_start);
	link_tree(run);
	run->procs = calloc(run->n, sizeof(*run->procs));
	if (!run->procs) {
		problem(run, errs, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < run->n; i++) {
		const struct sl_run_image *ri = run->v[i];
		const struct sl_image *img = &ri->img;
		struct sl_report_proc *p = &run->procs[i];
		p->pid = (int)img->pid;
		p->ppid = (int)img->ppid;
		p->argc = img->argc;
		p->argv = img->argv;
		p->state = ri->state;
		p->mods = ri->report_mods;
		p->nmods = ri->report_mods ? img->nmods : 0;
		p->signal = ri->signal;
		p->raw_exit = ri->img.end == SL_END_NONE && !ri->running && ri->signal <= 0 && ri->exit_status >= 0;
		p->raw_exit_status = ri->exit_status;
		p->parent = ri->parent;
		p->exec_of = ri->exec_of;
		for (unsigned k = 0; k < ri->nnotes; k++)
			p->notes[k] = ri->notes[k];
		p->nnotes = ri->nnotes;
	}
	return 0;
}

void sl_run_free(struct sl_run *run)
{
	for (unsigned i = 0; i < run->n; i++) {
		struct sl_run_image *ri = run->v[i];
		sl_image_free(&ri->img);
		free(ri->file);
		free(ri->report_mods);
		for (unsigned k = 0; k < ri->nnotes; k++)
			free(ri->notes[k]);
		free(ri);
	}
	for (unsigned k = 0; k < run->nproblems; k++)
		free(run->problems[k]);
	for (unsigned k = 0; k < run->nlost; k++)
		free(run->lost[k]);
	free(run->lost);
	for (unsigned k = 0; k < run->ncheckpoints; k++)
		free(run->checkpoint_json[k]);
	free(run->checkpoint_json);
	free(run->checkpoint_proc);
	free(run->problems);
	free(run->v);
	free(run->procs);
	if (run->pool)
		munmap(run->pool, run->pool_bytes);
	memset(run, 0, sizeof(*run));
}

const char *sl_run_how(const struct sl_run *run, unsigned i, char *buf, size_t size)
{
	const struct sl_run_image *ri = run->v[i];
	const struct sl_state *s = ri->state;
	switch (ri->img.end) {
	case SL_END_EXEC:
		snprintf(buf, size, "replaced by exec");
		break;
	case SL_END_CORRUPT:
		snprintf(buf, size, "log damaged");
		break;
	case SL_END_STOPPED:
		snprintf(buf, size, "log stopped");
		break;
	case SL_END_EXIT:
		snprintf(buf, size, "%s %d", s->exit_how == SL_EXIT_HOW__EXIT ? "_exit" :
			 s->exit_how == SL_EXIT_HOW_QUICK ? "quick_exit" : "exit", s->exit_status);
		break;
	default:
		if (ri->running) {
			snprintf(buf, size, "still running");
		} else if (ri->signal > 0) {
			const char *abbrev = sigabbrev_np(ri->signal);
			if (abbrev)
				snprintf(buf, size, "killed by SIG%s", abbrev);
			else
				snprintf(buf, size, "killed by signal %d", ri->signal);
		} else if (ri->exit_status >= 0) {
			snprintf(buf, size, "exit %d (raw exit system call)", ri->exit_status);
		} else {
			/* Reaped by a process other than the wrapper: killed, or a raw exit, unknown which. */
			snprintf(buf, size, "died without exiting (signal unknown)");
		}
	}
	return buf;
}

const char *sl_run_cmdline(const struct sl_run_image *ri, char *buf, size_t size)
{
	size_t n = 0;
	if (size == 0)
		return buf;
	for (int a = 0; a < ri->img.argc && n + 1 < size; a++) {
		if (a)
			buf[n++] = ' ';
		for (const char *p = ri->img.argv[a]; *p && n + 1 < size; p++)
			buf[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	}
	if (n == 0 && ri->img.exe)
		for (const char *p = ri->img.exe; *p && n + 1 < size; p++)
			buf[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	buf[n] = '\0';
	return buf;
}
