#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "json.h"
#include "suppress.h"

/* ---- building ---- */

/* The C runtime's own frames below main and below a thread's start routine: the same in every
 * stack, they say nothing about the program and make up a third of a large JSON report. */
static int is_startup_frame(const struct sl_frame *f)
{
	static const char *const names[] = {"_start", "__libc_start_call_main", "__libc_start_main",
					    "start_thread", "clone", "clone3", "__clone", "__clone3"};
	if (!f->function)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		/* Versioned names too: __libc_start_main@@GLIBC_2.34. */
		if (!strncmp(f->function, names[i], n) && (f->function[n] == '\0' || f->function[n] == '@'))
			return 1;
	}
	return 0;
}

static const struct sl_stack_text *stack_text(struct sl_report *r, unsigned p, uint32_t id)
{
	if (id == 0 || id > r->nstack_texts[p])
		return NULL;
	struct sl_stack_text *st = &r->stack_texts[p][id];
	if (st->frames || st->py)
		return st;
	unsigned depth = 0;
	const uint64_t *w = NULL;
	const struct sl_stack_store *store = r->procs[p].state->stacks;
	int kind = sl_stacks_get(store, id, &depth, &w);
	if (kind == SL_STACK_NATIVE) {
		st->frames = calloc(depth, sizeof(*st->frames));
		if (!st->frames)
			return NULL;
		for (unsigned i = 0; i < depth; i++) {
			/* A walk skipped for want of stack: said in words, where the frames would be. */
			if (depth == 1 && w[i] == SL_STACK_NOT_TAKEN_PC) {
				st->frames[i].pc = w[i];
				st->frames[i].function = SL_STACK_NOT_TAKEN_TEXT;
				break;
			}
			/* Every frame is a return address: the capture starts in the caller of the hook. */
			if (r->syms[p])
				sl_sym_frame(r->syms[p], w[i], 1, &st->frames[i]);
			else
				st->frames[i].pc = w[i];
			if (!st->frames[i].module) {
				const struct sl_module *m = sl_module_of(r->procs[p].mods, r->procs[p].nmods, w[i]);
				if (m) {
					st->frames[i].module = m->path;
					st->frames[i].offset = w[i] - m->base;
				}
			}
		}
		st->nframes = depth;
		while (st->nframes > 1 && is_startup_frame(&st->frames[st->nframes - 1]))
			st->nframes--;
	} else if (kind == SL_STACK_PYTHON) {
		st->py = calloc(depth, sizeof(*st->py));
		if (!st->py)
			return NULL;
		for (unsigned i = 0; i < depth; i++) {
			struct sl_pyframe f = sl_pyframe_at(w, i);
			st->py[i].file = sl_stacks_string(store, f.file);
			st->py[i].function = sl_stacks_string(store, f.function);
			st->py[i].line = f.line;
		}
		st->npy = depth;
	} else {
		return NULL;
	}
	return st;
}

/* The names a suppression pattern is matched against. */
static unsigned collect_names(const struct sl_stack_text *st, const char **names, unsigned n, unsigned max)
{
	if (!st)
		return n;
	for (unsigned i = 0; i < st->nframes && n + 3 <= max; i++) {
		names[n++] = st->frames[i].function;
		names[n++] = st->frames[i].file;
		names[n++] = st->frames[i].module;
	}
	for (unsigned i = 0; i < st->npy && n + 2 <= max; i++) {
		names[n++] = st->py[i].function;
		names[n++] = st->py[i].file;
	}
	return n;
}

struct build_ctx {
	struct sl_report *r;
	unsigned p;
	size_t cap;
	int failed;
};

static void add_item(void *vctx, const struct sl_transport *t)
{
	struct build_ctx *b = vctx;
	struct sl_report *r = b->r;
	if (b->failed)
		return;
	if (r->nitems == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct sl_item *n = realloc(r->items, ncap * sizeof(*n));
		if (!n) {
			b->failed = 1;
			return;
		}
		r->items = n;
		b->cap = ncap;
	}
	struct sl_item *it = &r->items[r->nitems];
	memset(it, 0, sizeof(*it));
	it->proc = b->p;
	it->t = t;
	it->opened_at = stack_text(r, b->p, t->stack);
	it->opened_py = stack_text(r, b->p, t->pystack);
	if (t->tls) {
		it->ssl_freed_at = stack_text(r, b->p, t->tls->free_stack);
		it->ssl_freed_py = stack_text(r, b->p, t->tls->free_pystack);
	}
	for (const struct sl_finding *f = t->findings; f; f = f->next) {
		struct sl_item_finding *itf = &it->findings[it->nfindings];
		itf->f = f;
		int is_tls = f->flag == SL_FLAG_TLS_SHUTDOWN_ABANDONED || f->flag == SL_FLAG_TLS_NO_CLOSE_NOTIFY ||
			     f->flag == SL_FLAG_TLS_NOT_FREED;
		/* A TLS finding's stack is the SSL object's; show it apart only when it differs. */
		if (!is_tls || f->stack != t->stack)
			itf->where = stack_text(r, b->p, f->stack);
		if (!is_tls || f->pystack != t->pystack)
			itf->where_py = stack_text(r, b->p, f->pystack);
		const char *names[4 * 3 * SL_STACK_MAX_DEPTH];
		unsigned n = 0, max = sizeof(names) / sizeof(names[0]);
		n = collect_names(it->opened_at, names, n, max);
		n = collect_names(it->opened_py, names, n, max);
		unsigned creating = n;
		n = collect_names(itf->where, names, n, max);
		n = collect_names(itf->where_py, names, n, max);
		if (sl_supp_match(r->cfg->supp, f->flag, names, n, creating) >= 0) {
			r->suppressed++;
			continue;
		}
		if (sl_flag_table[f->flag].severity == SL_SEV_ERROR)
			it->errors++;
		else
			it->warnings++;
		r->per_flag[f->flag]++;
		it->nfindings++;
	}
	if (it->nfindings == 0)
		return;
	/* One fixed order, the flag table's, whatever order the lifecycle raised them in. */
	for (unsigned i = 1; i < it->nfindings; i++)
		for (unsigned k = i; k > 0 && it->findings[k - 1].f->flag > it->findings[k].f->flag; k--) {
			struct sl_item_finding tmp = it->findings[k];
			it->findings[k] = it->findings[k - 1];
			it->findings[k - 1] = tmp;
		}
	r->errors += it->errors;
	r->warnings += it->warnings;
	r->nitems++;
}

/* One loop for both entry points: with shared, every process uses that symbolizer (the
 * analyzer's, which knows every process's modules at once, so a run of hundreds of processes
 * loads each module's debug information once); without, each process gets its own. */
static int build(struct sl_report *r, struct sl_report_proc *procs, unsigned nprocs,
		 const struct sl_report_config *cfg, struct sl_symbolizer *shared,
		 const struct sl_transport *list, long nlist)
{
	memset(r, 0, sizeof(*r));
	r->procs = procs;
	r->nprocs = nprocs;
	r->cfg = cfg;
	r->syms = calloc(nprocs ? nprocs : 1, sizeof(*r->syms));
	r->stack_texts = calloc(nprocs ? nprocs : 1, sizeof(*r->stack_texts));
	r->nstack_texts = calloc(nprocs ? nprocs : 1, sizeof(*r->nstack_texts));
	if (!r->syms || !r->stack_texts || !r->nstack_texts)
		return -1;
	struct build_ctx b = {r, 0, 0, 0};
	int rc = 0;
	for (unsigned p = 0; p < nprocs && rc == 0; p++) {
		struct sl_state *s = procs[p].state;
		r->transports_seen += s->transports_seen;
		if (list ? nlist <= 0 : !s->done_head)
			continue; /* nothing to report: skip symbolization entirely */
		uint32_t nst = sl_stacks_count(s->stacks);
		r->stack_texts[p] = calloc((size_t)nst + 1, sizeof(**r->stack_texts));
		if (!r->stack_texts[p]) {
			rc = -1;
			break;
		}
		r->nstack_texts[p] = nst;
		if (cfg->symbolize) {
			r->syms[p] = shared ? shared : sl_sym_new(procs[p].mods, procs[p].nmods);
			if (!r->sym_status)
				r->sym_status = sl_sym_status(r->syms[p]);
		}
		b.p = p;
		for (long i = 0; list && i < nlist; i++)
			add_item(&b, &list[i]);
		if ((!list && sl_state_for_each_flagged(s, add_item, &b) < 0) || b.failed)
			rc = -1;
	}
	/* Every stack the report shows is symbolized by now. A shared symbolizer is the caller's
	 * to free (the frames' names live in it): the report lets go of it. */
	for (unsigned p = 0; shared && p < nprocs; p++)
		r->syms[p] = NULL;
	return rc;
}

int sl_report_build(struct sl_report *r, struct sl_report_proc *procs, unsigned nprocs,
		    const struct sl_report_config *cfg)
{
	return build(r, procs, nprocs, cfg, NULL, NULL, 0);
}

int sl_report_build_checkpoint(struct sl_report *r, struct sl_report_proc *proc, const struct sl_report_config *cfg,
			       const struct sl_transport *list, long n, const char *label)
{
	int rc = build(r, proc, 1, cfg, NULL, list ? list : (const struct sl_transport *)"", n);
	r->checkpoint = label;
	return rc;
}

int sl_report_build_shared(struct sl_report *r, struct sl_report_proc *procs, unsigned nprocs,
			   const struct sl_report_config *cfg, struct sl_symbolizer *sym)
{
	return build(r, procs, nprocs, cfg, sym, NULL, 0);
}

void sl_report_free(struct sl_report *r)
{
	for (unsigned p = 0; p < r->nprocs; p++) {
		if (r->stack_texts && r->stack_texts[p]) {
			for (uint32_t i = 0; i <= r->nstack_texts[p]; i++) {
				free(r->stack_texts[p][i].frames);
				free(r->stack_texts[p][i].py);
			}
			free(r->stack_texts[p]);
		}
		if (r->syms)
			sl_sym_free(r->syms[p]);
	}
	free(r->stack_texts);
	free(r->nstack_texts);
	free(r->syms);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/* ---- words ---- */

static int is_python(const struct sl_report *r, const struct sl_item *it)
{
	return it->opened_py != NULL || r->procs[it->proc].state->exit_phase == SL_EXIT_PHASE_RUNTIME_FINALIZING;
}

static const char *direction(uint32_t events)
{
	int in = (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) != 0, out = (events & EPOLLOUT) != 0;
	return in && out ? "reading and writing" : out ? "writing" : "reading";
}

static const char *exit_how_text(int how)
{
	switch (how) {
	case SL_EXIT_HOW__EXIT: return "the process called _exit()";
	case SL_EXIT_HOW_QUICK: return "the process called quick_exit()";
	default: return "the process exited";
	}
}

const char *sl_report_detail(const struct sl_report *r, const struct sl_item *it,
			     const struct sl_item_finding *itf, char *buf, size_t size)
{
	const struct sl_finding *f = itf->f;
	const struct sl_transport *t = it->t;
	const struct sl_report_proc *proc = &r->procs[it->proc];
	const struct sl_state *s = proc->state;
	const char *shut = (t->state & SL_T_SHUT_RD) && (t->state & SL_T_SHUT_WR) ? " (shut down both ways, never closed)"
			   : (t->state & SL_T_SHUT_WR) ? " (shut down for writing, never closed)"
			   : (t->state & SL_T_SHUT_RD) ? " (shut down for reading, never closed)" : "";
	switch (f->flag) {
	case SL_FLAG_NEVER_CLOSED:
		if (f->when == SL_WHEN_CHECKPOINT)
			snprintf(buf, size, "still open (fd %d) %s%s", f->fd, r->live_view ? "now" : "at the checkpoint", shut);
		else if (s->exit_how == SL_EXIT_HOW__EXIT)
			snprintf(buf, size, "still open (fd %d) when the process called _exit(): nothing ever closed it%s",
				 f->fd, shut);
		else
			snprintf(buf, size, "still open (fd %d) when the process exited%s", f->fd, shut);
		break;
	case SL_FLAG_CLOSED_AT_EXIT:
		if (f->exit_phase == SL_EXIT_PHASE_RUNTIME_FINALIZING)
			snprintf(buf, size, "closed (fd %d) only during the Python interpreter's shutdown, by the "
				 "garbage collector: nothing in the program closed it", f->fd);
		else if (f->exit_phase == SL_EXIT_PHASE_PERL_DESTRUCT)
			snprintf(buf, size, "closed (fd %d) only during the Perl interpreter's global destruction at "
				 "exit (perl_destruct): nothing in the program closed it", f->fd);
		else if (f->exit_phase == SL_EXIT_PHASE_RUBY_FINALIZING)
			snprintf(buf, size, "closed (fd %d) only by the Ruby interpreter's exit-time finalizers, after "
				 "the at_exit blocks: nothing in the program closed it", f->fd);
		else
			snprintf(buf, size, "closed (fd %d) only by exit-time cleanup, after %s: nothing in the "
				 "program closed it before it ended", f->fd,
				 f->exit_phase == SL_EXIT_PHASE_MAIN_RETURNED ? "main() returned" : "exit() was called");
		break;
	case SL_FLAG_READER_NOT_REMOVED: {
		const char *dir = direction(f->events);
		const char *what = it->t->domain == SL_DOMAIN_FD ? "descriptor" : "socket"; /* issue 15: a pipe */
		if (f->when == SL_WHEN_EPOLL_CLOSED && is_python(r, it))
			snprintf(buf, size, "the event loop's epoll set (fd %d) was closed while this %s was still "
				 "registered for %s (fd %d, never removed): the transport was not closed before the loop",
				 f->epoll_fd, what, dir, f->fd);
		else if (f->when == SL_WHEN_EPOLL_CLOSED)
			snprintf(buf, size, "the epoll set (fd %d) was closed while this %s was still registered "
				 "(fd %d): EPOLL_CTL_ADD was never matched by EPOLL_CTL_DEL", f->epoll_fd, what, f->fd);
		else if (f->when == SL_WHEN_CHECKPOINT)
			snprintf(buf, size, "still registered in the epoll set (fd %d) under fd %d %s", f->epoll_fd,
				 f->fd, r->live_view ? "now" : "at the checkpoint");
		else
			snprintf(buf, size, "still registered in the epoll set (fd %d) under fd %d when %s: "
				 "EPOLL_CTL_ADD was never matched by EPOLL_CTL_DEL", f->epoll_fd, f->fd,
				 exit_how_text(s->exit_how));
		break;
	}
	case SL_FLAG_CLOSED_WHILE_REGISTERED:
		snprintf(buf, size, "fd %d was closed while registered in the epoll set (fd %d), but the %s stayed "
			 "open through another descriptor: the kernel kept delivering its events under the closed "
			 "number", f->fd, f->epoll_fd, it->t->domain == SL_DOMAIN_FD ? sl_fd_kind_name(it->t->type) : "socket");
		break;
	case SL_FLAG_TLS_SHUTDOWN_ABANDONED:
		/* Only teardown abandons a shutdown (a one-way close by the program is clean): say which. */
		snprintf(buf, size, "TLS shutdown begun (close_notify sent) and abandoned before the peer replied: the "
			 "session %s%s",
			 f->when == SL_WHEN_SSL_FREE ? "ended with SSL_free()" : f->when == SL_WHEN_CLOSE ?
			 "ended when its socket was closed" : "was still waiting when the process exited",
			 f->when == SL_WHEN_AT_EXIT ? "" : f->exit_phase != SL_EXIT_PHASE_NONE ? " during exit-time cleanup" :
			 (t->flags & (1u << SL_FLAG_READER_NOT_REMOVED)) ? ", and its socket's event loop was closed "
			 "under it" : "");
		break;
	case SL_FLAG_TLS_NO_CLOSE_NOTIFY:
		snprintf(buf, size, "the TLS handshake completed, and the session ended %s without close_notify being "
			 "sent (no SSL_shutdown)",
			 f->when == SL_WHEN_SSL_FREE ? "with SSL_free()" : f->when == SL_WHEN_CLOSE ? "when its socket was closed"
			 : "at exit");
		break;
	case SL_FLAG_TLS_NOT_FREED:
		if (t->tls && t->tls->up_refs)
			snprintf(buf, size, "the SSL object (0x%" PRIx64 ") was still allocated when %s: SSL_up_ref was "
				 "called %u time%s and SSL_free %u time%s, so its last reference was never released",
				 t->tls->ssl, exit_how_text(s->exit_how), t->tls->up_refs, t->tls->up_refs == 1 ? "" : "s",
				 t->tls->frees, t->tls->frees == 1 ? "" : "s");
		else
			snprintf(buf, size, "the SSL object (0x%" PRIx64 ") was still allocated when %s: SSL_free was "
				 "never called", t->tls ? t->tls->ssl : 0, exit_how_text(s->exit_how));
		break;
	case SL_FLAG_PROCESS_KILLED:
		if (proc->raw_exit)
			snprintf(buf, size, "open (fd %d) when the process ended through a raw exit system call (status "
				 "%d): no exit-time cleanup and no exit report ran", f->fd, proc->raw_exit_status);
		else if (proc->signal > 0)
			snprintf(buf, size, "open (fd %d) when the process was killed by signal %d", f->fd, proc->signal);
		else
			snprintf(buf, size, "open (fd %d) when the process died without exiting (killed by a signal)", f->fd);
		break;
	default:
		snprintf(buf, size, "%s", sl_flag_table[f->flag].summary);
	}
	return buf;
}

const char *sl_report_describe(const struct sl_item *it, char *buf, size_t size)
{
	const struct sl_transport *t = it->t;
	char kind[32], l[160], p[160];
	if (t->domain == 0) {
		snprintf(buf, size, "TLS session never bound to a socket");
		return buf;
	}
	sl_kind_name(t, kind, sizeof(kind));
	size_t n = t->domain == SL_DOMAIN_FD ? (size_t)snprintf(buf, size, "%s, fd %d", kind, t->fd)
					     : (size_t)snprintf(buf, size, "%s %s, fd %d", kind, sl_role_name(t->role), t->fd);
	if (n < size && (t->local.family || t->peer.family)) {
		sl_addr_format(&t->local, l, sizeof(l));
		if (t->peer.family)
			snprintf(buf + n, size - n, ", %s -> %s", l, sl_addr_format(&t->peer, p, sizeof(p)));
		else
			snprintf(buf + n, size - n, ", %s", l);
	}
	return buf;
}

/* The call that first bound a session to its socket, as the program made it. */
static const char *bind_text(int bind)
{
	switch (bind) {
	case SL_TLS_BIND_FD: return "with SSL_set_fd";
	case SL_TLS_BIND_RFD: return "with SSL_set_rfd or SSL_set0_rbio (a socket BIO)";
	case SL_TLS_BIND_WFD: return "with SSL_set_wfd or SSL_set0_wbio (a socket BIO)";
	case SL_TLS_BIND_TRAFFIC: return "by its traffic (memory BIO)";
	case SL_TLS_BIND_BIO: return "with SSL_set_bio (a socket BIO)";
	default: return "to no socket";
	}
}

const char *sl_report_tls_text(const struct sl_tls *x, char *buf, size_t size)
{
	size_t n = 0;
#define ADD(...) (n += n < size ? (size_t)snprintf(buf + n, size - n, __VA_ARGS__) : 0)
	ADD("TLS (%s): ", x->role == 1 ? "client" : x->role == 2 ? "server" : "role unknown");
	ADD("%s", x->handshake ? "handshake completed" : "handshake not completed");
	if (x->quiet)
		ADD("; quiet shutdown (nothing sent, by choice)");
	else if (x->fatal && !x->sent)
		ADD("; ended by a fatal alert (OpenSSL's state), after which no close_notify is sent");
	else if (x->state_bits & 1 /* SSL_SENT_SHUTDOWN */)
		ADD("; OpenSSL marked it shut down (close_notify or a fatal alert sent)%s",
		    x->received ? ", and the peer's received" : "");
	else if (x->one_way)
		ADD("; one-way shutdown: close_notify sent, the peer's not awaited");
	else if (x->sent && x->received)
		ADD("; close_notify sent and the peer's received");
	else if (x->sent)
		ADD("; close_notify sent, the peer's never received");
	else if (x->received)
		ADD("; the peer's close_notify received, none sent");
	else
		ADD("; no close_notify sent");
	if (x->n_results) {
		ADD("; SSL_shutdown returned");
		for (unsigned i = 0; i < x->n_results && i < SL_TLS_MAX_RESULTS; i++)
			ADD("%s %d", i ? "," : "", x->results[i]);
		if (x->n_results > SL_TLS_MAX_RESULTS)
			ADD(", ... (%u calls)", x->n_results);
	}
	if (x->freed)
		ADD("; SSL_free called");
	else if (x->frees)
		ADD("; SSL_free called %u time%s, %u reference%s left (SSL_up_ref)", x->frees, x->frees == 1 ? "" : "s",
		    x->up_refs - x->frees + 1, x->up_refs - x->frees + 1 == 1 ? "" : "s");
	else
		ADD("; never freed");
	ADD("; bound %s", bind_text(x->bind));
#undef ADD
	return buf;
}

/* ---- text ---- */

/* A frame of the Python interpreter itself: the python3.x executable or libpython (Debian's have
 * no symbols, so the module's name decides). Extension modules (_ssl, _socket) and libssl are not. */
static int is_interpreter_frame(const struct sl_frame *f)
{
	if (!f->module)
		return 0;
	const char *base = strrchr(f->module, '/');
	base = base ? base + 1 : f->module;
	if (!strncmp(base, "libpython", 9))
		return 1;
	if (strncmp(base, "python", 6))
		return 0;
	for (const char *c = base + 6; *c; c++) /* python, python3, python3.11, python3.11d */
		if (!(*c >= '0' && *c <= '9') && *c != '.' && *c != 'd' && *c != 'm' && *c != 'u')
			return 0;
	return 1;
}

/* fold: the stack has a Python traceback printed above it; the frames from the first one of the
 * interpreter down are its machinery, already told by the traceback, and are counted instead. */
static void print_frames(struct sl_out *out, const struct sl_stack_text *st, const char *indent, int fold)
{
	if (!st)
		return;
	for (unsigned i = 0; i < st->nframes; i++) {
		const struct sl_frame *f = &st->frames[i];
		if (f->pc == SL_STACK_NOT_TAKEN_PC) {
			sl_out_printf(out, "%s%s\n", indent, SL_STACK_NOT_TAKEN_TEXT);
			continue;
		}
		if (fold && is_interpreter_frame(f)) {
			unsigned rest = st->nframes - i;
			sl_out_printf(out, "%s... %u interpreter frame%s\n", indent, rest, rest == 1 ? "" : "s");
			return;
		}
		sl_out_printf(out, "%s#%u 0x%" PRIx64, indent, i, f->pc);
		if (f->function)
			sl_out_printf(out, " in %s", f->function);
		if (f->file)
			sl_out_printf(out, " %s:%d", f->file, f->line);
		else if (f->module)
			sl_out_printf(out, " (%s+0x%" PRIx64 ")", f->module, f->offset);
		sl_out_puts(out, "\n");
	}
}

static void print_python(struct sl_out *out, const struct sl_stack_text *st, const char *indent)
{
	if (!st)
		return;
	sl_out_printf(out, "%sTraceback (most recent call last):\n", indent);
	for (unsigned i = 0; i < st->npy; i++)
		sl_out_printf(out, "%s  File \"%s\", line %u, in %s\n", indent, st->py[i].file ? st->py[i].file : "?",
			      st->py[i].line, st->py[i].function ? st->py[i].function : "?");
}

/* Items that read the same (same process, kind, role, creation stacks, findings and where they
 * were registered) are printed once with a count, as LeakSanitizer groups leaks by stack. */
static int same_group(const struct sl_item *a, const struct sl_item *b)
{
	if (a->proc != b->proc || a->t->flags != b->t->flags || a->t->stack != b->t->stack ||
	    a->t->pystack != b->t->pystack || a->t->domain != b->t->domain || a->t->type != b->t->type ||
	    a->t->role != b->t->role || a->nfindings != b->nfindings || (a->t->tls != NULL) != (b->t->tls != NULL))
		return 0;
	for (unsigned i = 0; i < a->nfindings; i++)
		if (a->findings[i].f->flag != b->findings[i].f->flag ||
		    a->findings[i].f->stack != b->findings[i].f->stack || a->findings[i].f->when != b->findings[i].f->when)
			return 0;
	return 1;
}

static uint64_t group_hash(const struct sl_item *it)
{
	uint64_t h = it->proc * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)it->t->flags << 48 ^ (uint64_t)it->t->stack << 16 ^ it->t->pystack;
	h *= 0xff51afd7ed558ccdull;
	h ^= (uint64_t)it->t->domain << 32 ^ (uint64_t)it->t->type << 24 ^ it->t->role;
	for (unsigned i = 0; i < it->nfindings; i++)
		h = (h ^ it->findings[i].f->stack) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 31);
}

static void group_items(struct sl_report *r)
{
	size_t cap = 16;
	while (cap < r->nitems * 2)
		cap *= 2;
	size_t *head = malloc(cap * sizeof(*head)); /* slot -> first item of a group */
	size_t *tail = malloc(cap * sizeof(*tail));
	for (size_t i = 0; i < r->nitems; i++) {
		r->items[i].group_next = (size_t)-1;
		r->items[i].group_size = 1;
		r->items[i].group_member = 0;
	}
	if (!head || !tail) {
		free(head);
		free(tail);
		return; /* no grouping: every item printed in full */
	}
	for (size_t k = 0; k < cap; k++)
		head[k] = (size_t)-1;
	for (size_t i = 0; i < r->nitems; i++) {
		size_t k = (size_t)group_hash(&r->items[i]) & (cap - 1);
		while (head[k] != (size_t)-1 && !same_group(&r->items[head[k]], &r->items[i]))
			k = (k + 1) & (cap - 1);
		if (head[k] == (size_t)-1) {
			head[k] = tail[k] = i;
			continue;
		}
		r->items[tail[k]].group_next = i;
		tail[k] = i;
		r->items[head[k]].group_size++;
		r->items[i].group_member = 1;
	}
	free(head);
	free(tail);
}

/* A transport prints in one fixed order: every flag (in the flag table's order), the TLS line,
 * then the stacks, each under a heading that says what it is: no flag can hide between another
 * flag's stack and the TLS line. */
static void print_item(struct sl_report *r, struct sl_out *out, const struct sl_item *it)
{
	char desc[512], detail[1024];
	sl_out_paint(out, SL_PAINT_BOLD);
	sl_out_printf(out, "Transport #%" PRIu64 ": %s", it->t->id, sl_report_describe(it, desc, sizeof(desc)));
	sl_out_paint(out, SL_PAINT_RESET);
	sl_out_puts(out, "\n");
	for (unsigned i = 0; i < it->nfindings; i++) {
		const struct sl_item_finding *itf = &it->findings[i];
		const struct sl_flag_info *fi = &sl_flag_table[itf->f->flag];
		sl_out_puts(out, "  ");
		sl_out_paint(out, fi->severity == SL_SEV_ERROR ? SL_PAINT_ERROR : SL_PAINT_WARNING);
		sl_out_printf(out, "%s (%s)", fi->id, sl_severity_name(fi->severity));
		sl_out_paint(out, SL_PAINT_RESET);
		sl_out_printf(out, ": %s\n", sl_report_detail(r, it, itf, detail, sizeof(detail)));
	}
	if (it->t->tls)
		sl_out_printf(out, "  %s\n", sl_report_tls_text(it->t->tls, detail, sizeof(detail)));
	for (unsigned i = 0; i < it->nfindings; i++) {
		const struct sl_item_finding *itf = &it->findings[i];
		int shown = 0;
		for (unsigned k = 0; k < i && !shown; k++)
			shown = it->findings[k].where == itf->where && it->findings[k].where_py == itf->where_py;
		if (shown || !(itf->where || itf->where_py))
			continue;
		if (itf->f->flag == SL_FLAG_READER_NOT_REMOVED || itf->f->flag == SL_FLAG_CLOSED_WHILE_REGISTERED)
			sl_out_printf(out, "  registered with epoll at (%s):\n", sl_flag_table[itf->f->flag].id);
		else
			sl_out_puts(out, "  SSL object made at:\n");
		print_python(out, itf->where_py, "    ");
		print_frames(out, itf->where, "    ", itf->where_py && !r->cfg->native_frames_all);
	}
	if (it->ssl_freed_at || it->ssl_freed_py) {
		sl_out_puts(out, "  SSL_free at:\n");
		print_python(out, it->ssl_freed_py, "    ");
		print_frames(out, it->ssl_freed_at, "    ", it->ssl_freed_py && !r->cfg->native_frames_all);
	}
	if (it->group_size > 1) {
		sl_out_printf(out, "  and %zu more transport%s like this one (same stack and findings), fd%s", it->group_size - 1,
			      it->group_size == 2 ? "" : "s", it->group_size == 2 ? "" : "s");
		/* Distinct numbers only: a leak in a loop may reuse the same one again and again. */
		int fds[20];
		size_t shown = 0, more = 0;
		for (size_t k = it->group_next; k != (size_t)-1; k = r->items[k].group_next) {
			int fd = r->items[k].t->fd, seen = fd == it->t->fd;
			for (size_t i = 0; i < shown && !seen; i++)
				seen = fds[i] == fd;
			if (seen)
				continue;
			if (shown < 20)
				fds[shown++] = fd;
			else
				more = 1;
		}
		for (size_t i = 0; i < shown; i++)
			sl_out_printf(out, "%s %d", i ? "," : "", fds[i]);
		if (shown == 0)
			sl_out_printf(out, " %d again", it->t->fd);
		if (more)
			sl_out_puts(out, ", ...");
		sl_out_puts(out, "\n");
	}
	if (it->opened_py) {
		sl_out_puts(out, "  made by Python code:\n");
		print_python(out, it->opened_py, "    ");
	}
	if (it->opened_at) {
		sl_out_puts(out, it->t->domain ? "  opened at:\n" : "  SSL object made at:\n");
		print_frames(out, it->opened_at, "    ", it->opened_py && !r->cfg->native_frames_all);
	}
	sl_out_puts(out, "\n");
}

static void print_summary(const struct sl_report *r, struct sl_out *out)
{
	sl_out_paint(out, SL_PAINT_BOLD);
	sl_out_puts(out, "SUMMARY: sockleak: ");
	if (r->live_view)
		sl_out_puts(out, "live view: ");
	else if (r->checkpoint)
		sl_out_printf(out, "checkpoint \"%s\": ", r->checkpoint);
	sl_out_printf(out, "%lu error%s, %lu warning%s in %zu of %lu transport%s", r->errors,
		      r->errors == 1 ? "" : "s", r->warnings, r->warnings == 1 ? "" : "s", r->nitems, r->transports_seen,
		      r->transports_seen == 1 ? "" : "s");
	int first = 1;
	for (int f = 0; f < SL_FLAG_COUNT; f++) {
		if (!r->per_flag[f])
			continue;
		sl_out_printf(out, "%s%s: %lu", first ? " (" : ", ", sl_flag_table[f].id, r->per_flag[f]);
		first = 0;
	}
	if (!first)
		sl_out_puts(out, ")");
	if (r->suppressed)
		sl_out_printf(out, "; %lu suppressed", r->suppressed);
	sl_out_paint(out, SL_PAINT_RESET);
	sl_out_puts(out, "\n");
}

static void report_text(struct sl_report *r, struct sl_out *out, int verbose);

void sl_report_text(struct sl_report *r, struct sl_out *out, int verbose)
{
	int was = out->printable;
	out->printable = 1;
	report_text(r, out, verbose);
	out->printable = was;
}

static void report_text(struct sl_report *r, struct sl_out *out, int verbose)
{
	for (unsigned p = 0; p < r->nprocs; p++)
		for (unsigned k = 0; k < r->procs[p].nnotes; k++)
			sl_out_printf(out, "sockleak: note (pid %d): %s\n", r->procs[p].pid, r->procs[p].notes[k]);
	if (r->nitems > 0 && r->sym_status)
		sl_out_printf(out, "sockleak: note: %s\n", r->sym_status);
	if (r->nitems == 0) {
		sl_supp_print_used(r->cfg->supp, out);
		unsigned notes = 0;
		for (unsigned p = 0; p < r->nprocs; p++)
			notes += r->procs[p].nnotes;
		/* Notes say what sockleak could not see: "all finished properly" would claim too much. */
		if (verbose && notes)
			sl_out_printf(out, "sockleak: %lu transport%s, no findings; see the notes above for what "
				      "sockleak could not see\n", r->transports_seen, r->transports_seen == 1 ? "" : "s");
		else if (verbose)
			sl_out_printf(out, "sockleak: %lu transport%s, all finished properly%s\n", r->transports_seen,
				      r->transports_seen == 1 ? "" : "s", r->suppressed ? " (some findings suppressed)" : "");
		return;
	}
	group_items(r);
	unsigned last_proc = (unsigned)-1;
	for (size_t i = 0; i < r->nitems; i++) {
		const struct sl_item *it = &r->items[i];
		if (it->group_member)
			continue;
		if (it->proc != last_proc) {
			const struct sl_report_proc *pr = &r->procs[it->proc];
			unsigned long e = 0, w = 0;
			size_t n = 0;
			for (size_t k = i; k < r->nitems && r->items[k].proc == it->proc; k++, n++) {
				e += r->items[k].errors;
				w += r->items[k].warnings;
			}
			sl_out_paint(out, r->live_view ? SL_PAINT_BOLD : e ? SL_PAINT_ERROR : SL_PAINT_WARNING);
			if (r->live_view)
				sl_out_printf(out, "==%d==sockleak: live view: %zu transport%s open now in %s (pid %d)",
					      pr->pid, n, n == 1 ? "" : "s",
					      pr->argc > 0 && pr->argv[0] ? pr->argv[0] : "?", pr->pid);
			else if (r->checkpoint)
				sl_out_printf(out, "==%d==%s: sockleak: checkpoint \"%s\": %zu transport%s made since the "
					      "mark still unfinished in %s (pid %d)", pr->pid, e ? "ERROR" : "WARNING",
					      r->checkpoint, n, n == 1 ? "" : "s",
					      pr->argc > 0 && pr->argv[0] ? pr->argv[0] : "?", pr->pid);
			else
				sl_out_printf(out, "==%d==%s: sockleak: %zu transport%s not finished properly in %s (pid %d)",
					      pr->pid, e ? "ERROR" : "WARNING", n, n == 1 ? "" : "s",
					      pr->argc > 0 && pr->argv[0] ? pr->argv[0] : "?", pr->pid);
			sl_out_paint(out, SL_PAINT_RESET);
			sl_out_puts(out, "\n\n");
			last_proc = it->proc;
		}
		print_item(r, out, it);
	}
	sl_supp_print_used(r->cfg->supp, out);
	print_summary(r, out);
}

/* ---- JSON ---- */

static void json_frames(struct sl_json *j, const struct sl_stack_text *st)
{
	char pc[24];
	sl_json_array(j);
	for (unsigned i = 0; st && i < st->nframes; i++) {
		const struct sl_frame *f = &st->frames[i];
		sl_json_object(j);
		sl_json_kv_string(j, "function", f->function);
		sl_json_kv_string(j, "file", f->file);
		sl_json_key(j, "line");
		if (f->file)
			sl_json_int(j, f->line);
		else
			sl_json_null(j);
		sl_json_kv_string(j, "module", f->module);
		snprintf(pc, sizeof(pc), "0x%" PRIx64, f->pc);
		sl_json_kv_string(j, "pc", pc);
		sl_json_end(j);
	}
	sl_json_end(j);
}

static void json_python(struct sl_json *j, const struct sl_stack_text *st)
{
	if (!st) {
		sl_json_null(j);
		return;
	}
	sl_json_array(j);
	for (unsigned i = 0; i < st->npy; i++) {
		sl_json_object(j);
		sl_json_kv_string(j, "file", st->py[i].file);
		sl_json_kv_int(j, "line", st->py[i].line);
		sl_json_kv_string(j, "function", st->py[i].function);
		sl_json_end(j);
	}
	sl_json_end(j);
}

static void json_tls(struct sl_json *j, const struct sl_tls *x, const struct sl_item *it)
{
	if (!x) {
		sl_json_null(j);
		return;
	}
	sl_json_object(j);
	sl_json_kv_string(j, "role", x->role == 1 ? "client" : x->role == 2 ? "server" : NULL);
	sl_json_kv_bool(j, "handshake_completed", x->handshake);
	sl_json_kv_bool(j, "close_notify_sent", x->sent);
	sl_json_kv_bool(j, "close_notify_received", x->received);
	sl_json_kv_bool(j, "quiet_shutdown", x->quiet);
	sl_json_kv_bool(j, "two_way_shutdown_begun", x->two_way);
	sl_json_key(j, "shutdown_results");
	sl_json_array(j);
	for (unsigned i = 0; i < x->n_results && i < SL_TLS_MAX_RESULTS; i++)
		sl_json_int(j, x->results[i]);
	sl_json_end(j);
	sl_json_kv_int(j, "shutdown_calls", x->n_results);
	sl_json_kv_bool(j, "one_way_close", x->one_way);
	sl_json_kv_bool(j, "fatal_alert", x->fatal);
	sl_json_kv_bool(j, "freed", x->freed);
	sl_json_kv_int(j, "up_refs", x->up_refs);
	sl_json_kv_int(j, "frees", x->frees);
	sl_json_kv_string(j, "bound", x->bind == SL_TLS_BIND_TRAFFIC ? "traffic" : x->bind ? "fd" : NULL);
	sl_json_key(j, "freed_at");
	if (it->ssl_freed_at)
		json_frames(j, it->ssl_freed_at);
	else
		sl_json_null(j);
	sl_json_key(j, "freed_python_traceback");
	json_python(j, it->ssl_freed_py);
	sl_json_end(j);
}

static void json_transport(const struct sl_report *r, struct sl_json *j, const struct sl_item *it)
{
	const struct sl_transport *t = it->t;
	char buf[1024];
	sl_json_object(j);
	sl_json_kv_int(j, "id", (int64_t)t->id);
	sl_json_kv_int(j, "pid", r->procs[it->proc].pid);
	sl_json_key(j, "fd");
	if (t->fd >= 0)
		sl_json_int(j, t->fd);
	else
		sl_json_null(j);
	sl_json_kv_string(j, "kind", t->domain ? sl_kind_name(t, buf, sizeof(buf)) : "tls");
	sl_json_kv_string(j, "family", t->domain ? sl_family_name(t->domain) : NULL);
	int sock = t->domain && t->domain != SL_DOMAIN_FD; /* a descriptor has no type or role */
	sl_json_kv_string(j, "type", sock ? sl_type_name(t->type) : NULL);
	sl_json_kv_string(j, "role", sock ? sl_role_name(t->role) : NULL);
	sl_json_key(j, "local");
	if (t->local.family)
		sl_json_string(j, sl_addr_format(&t->local, buf, sizeof(buf)));
	else
		sl_json_null(j);
	sl_json_key(j, "peer");
	if (t->peer.family)
		sl_json_string(j, sl_addr_format(&t->peer, buf, sizeof(buf)));
	else
		sl_json_null(j);
	sl_json_kv_bool(j, "open", (t->state & SL_T_OPEN) != 0);
	sl_json_kv_bool(j, "inherited", (t->state & SL_T_INHERITED) != 0);
	sl_json_kv_string(j, "shutdown", (t->state & SL_T_SHUT_RD) && (t->state & SL_T_SHUT_WR) ? "both"
					 : (t->state & SL_T_SHUT_RD) ? "read" : (t->state & SL_T_SHUT_WR) ? "write" : NULL);
	sl_json_key(j, "tls");
	json_tls(j, t->tls, it);
	sl_json_key(j, "flags");
	sl_json_array(j);
	for (unsigned i = 0; i < it->nfindings; i++) {
		const struct sl_item_finding *itf = &it->findings[i];
		const struct sl_flag_info *fi = &sl_flag_table[itf->f->flag];
		sl_json_object(j);
		sl_json_kv_string(j, "flag", fi->id);
		sl_json_kv_string(j, "severity", sl_severity_name(fi->severity));
		sl_json_kv_string(j, "detail", sl_report_detail(r, it, itf, buf, sizeof(buf)));
		if (itf->f->epoll_fd >= 0)
			sl_json_kv_int(j, "epoll_fd", itf->f->epoll_fd);
		if (itf->where) {
			sl_json_key(j, "registered_at");
			json_frames(j, itf->where);
		}
		if (itf->where_py) {
			sl_json_key(j, "registered_python_traceback");
			json_python(j, itf->where_py);
		}
		sl_json_end(j);
	}
	sl_json_end(j);
	sl_json_key(j, "opened_at");
	json_frames(j, it->opened_at);
	sl_json_key(j, "python_traceback");
	json_python(j, it->opened_py);
	sl_json_end(j);
}

static void json_argv(struct sl_json *j, const struct sl_report_proc *p)
{
	sl_json_array(j);
	for (int i = 0; i < p->argc; i++)
		sl_json_string(j, p->argv[i]);
	sl_json_end(j);
}

static const char *exit_how_name(const struct sl_report_proc *p)
{
	const struct sl_state *s = p->state;
	if (p->raw_exit)
		return "raw_exit";
	if (s->execed)
		return "exec";
	if (!s->exited)
		return "running";
	switch (s->exit_how) {
	case SL_EXIT_HOW__EXIT: return "_exit";
	case SL_EXIT_HOW_QUICK: return "quick_exit";
	case SL_EXIT_HOW_KILLED: return "killed";
	default: return "exit";
	}
}

static void json_proc_fields(struct sl_json *j, const struct sl_report_proc *p)
{
	sl_json_kv_int(j, "pid", p->pid);
	sl_json_kv_int(j, "ppid", p->ppid);
	sl_json_key(j, "argv");
	json_argv(j, p);
	sl_json_key(j, "exit");
	sl_json_object(j);
	sl_json_kv_string(j, "how", exit_how_name(p));
	sl_json_key(j, "status");
	if (p->raw_exit)
		sl_json_int(j, p->raw_exit_status);
	else if (p->state->exited && p->state->exit_how != SL_EXIT_HOW_KILLED)
		sl_json_int(j, p->state->exit_status);
	else
		sl_json_null(j);
	sl_json_key(j, "signal");
	if (p->signal > 0)
		sl_json_int(j, p->signal);
	else
		sl_json_null(j);
	sl_json_end(j);
}

void sl_report_checkpoint_json(const struct sl_report *r, struct sl_out *out)
{
	struct sl_json j;
	sl_json_init(&j, out, 0);
	sl_json_object(&j);
	sl_json_kv_string(&j, "label", r->checkpoint);
	sl_json_kv_int(&j, "pid", r->nprocs > 0 ? r->procs[0].pid : 0);
	sl_json_kv_int(&j, "count", (int64_t)r->nitems);
	sl_json_kv_int(&j, "suppressed", (int64_t)r->suppressed);
	sl_json_key(&j, "transports");
	sl_json_array(&j);
	for (size_t i = 0; i < r->nitems; i++)
		json_transport(r, &j, &r->items[i]);
	sl_json_end(&j);
	sl_json_end(&j);
}

void sl_report_json(const struct sl_report *r, struct sl_out *out)
{
	struct sl_json j;
	sl_json_init(&j, out, 2);
	sl_json_object(&j);
	sl_json_kv_string(&j, "tool", "sockleak");
	sl_json_kv_string(&j, "version", SOCKLEAK_VERSION);
	sl_json_kv_int(&j, "format", SOCKLEAK_JSON_FORMAT);
	if (r->nprocs > 0)
		json_proc_fields(&j, &r->procs[0]);
	sl_json_key(&j, "transports");
	sl_json_array(&j);
	for (size_t i = 0; i < r->nitems; i++)
		json_transport(r, &j, &r->items[i]);
	sl_json_end(&j);
	sl_json_key(&j, "summary");
	sl_json_object(&j);
	sl_json_kv_int(&j, "transports_seen", (int64_t)r->transports_seen);
	sl_json_kv_int(&j, "transports_reported", (int64_t)r->nitems);
	sl_json_kv_int(&j, "errors", (int64_t)r->errors);
	sl_json_kv_int(&j, "warnings", (int64_t)r->warnings);
	sl_json_kv_int(&j, "suppressed", (int64_t)r->suppressed);
	sl_json_key(&j, "flags");
	sl_json_object(&j);
	for (int f = 0; f < SL_FLAG_COUNT; f++)
		sl_json_kv_int(&j, sl_flag_table[f].id, (int64_t)r->per_flag[f]);
	sl_json_end(&j);
	sl_json_end(&j);
	sl_json_key(&j, "suppressions");
	sl_json_array(&j);
	for (unsigned i = 0; i < sl_supp_count(r->cfg->supp); i++) {
		const char *flag, *pattern;
		unsigned long hits;
		sl_supp_rule(r->cfg->supp, i, &flag, &pattern, &hits);
		sl_json_object(&j);
		sl_json_kv_string(&j, "flag", flag);
		sl_json_kv_string(&j, "pattern", pattern);
		sl_json_kv_int(&j, "hits", (int64_t)hits);
		sl_json_kv_bool(&j, "built_in", sl_supp_rule_builtin(r->cfg->supp, i));
		sl_json_end(&j);
	}
	sl_json_end(&j);
	sl_json_kv_string(&j, "text_report_refused", r->text_refused);
	sl_json_key(&j, "checkpoints");
	sl_json_array(&j);
	for (unsigned i = 0; i < r->ncheckpoints; i++)
		sl_json_raw(&j, r->checkpoint_json[i]);
	sl_json_end(&j);
	sl_json_key(&j, "processes");
	sl_json_array(&j);
	for (unsigned p = 0; p < r->nprocs; p++) {
		const struct sl_report_proc *pr = &r->procs[p];
		sl_json_object(&j);
		json_proc_fields(&j, pr);
		sl_json_key(&j, "parent_pid");
		if (pr->parent >= 0)
			sl_json_int(&j, r->procs[pr->parent].pid);
		else
			sl_json_null(&j);
		sl_json_kv_bool(&j, "exec_image", pr->exec_of >= 0);
		sl_json_kv_int(&j, "transports_seen", (int64_t)pr->state->transports_seen);
		sl_json_kv_bool(&j, "incomplete", pr->state->out_of_memory);
		sl_json_key(&j, "notes");
		sl_json_array(&j);
		for (unsigned k = 0; k < pr->nnotes; k++)
			sl_json_string(&j, pr->notes[k]);
		sl_json_end(&j);
		sl_json_end(&j);
	}
	sl_json_end(&j);
	sl_json_finish(&j);
}
