/* The preload's internal API: the interposers (hooks_*.c) call these, and nothing else. */
#ifndef SOCKLEAK_PRELOAD_H
#define SOCKLEAK_PRELOAD_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/arena.h"
#include "../core/event.h"
#include "../core/lifecycle.h"
#include "../core/modules.h"
#include "../core/options.h"
#include "../core/stacks.h"

#define SL_TLS_MODEL __attribute__((tls_model("initial-exec")))
#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_EXPORT __attribute__((visibility("default")))

struct sl_runtime {
	volatile int ready;    /* initialization finished */
	volatile int disabled; /* tracking stopped (sockleak failed, or the process is exiting) */
	const char *disabled_why; /* what sl_disable said, for the event log's stop note */
	pid_t pid;
	struct sl_options opt;
	struct sl_arena arena;
	struct sl_stack_store *stacks;
	/* On a cache line of its own: the fields every connection's events write come first in it
	 * (lifecycle.h). */
	struct sl_state state __attribute__((aligned(64)));
	/* The lock on a line of its own (issue 12): every event takes it, and a thread that finds it
	 * taken spins reading it. What is read outside the lock (the options, self_lo and self_hi
	 * for every stack, the state's fields) is on other lines, which the lock's moving between
	 * cores does not take from the threads that read them. */
	int lock __attribute__((aligned(64))); /* sl_lock: a futex word */
	struct sl_closing *ends; /* closes ended and not yet applied (runtime.c, sl_close_end) */
	int finished __attribute__((aligned(64))); /* the exit report was made */
	int exit_status;
	int exit_status_known;
	int argc;
	char **argv;
	uint64_t self_lo, self_hi; /* our own code: frames here are left out of stacks */
};

extern struct sl_runtime sl_rt;

/* Set while this thread runs sockleak's own code: a hook reached from there (libunwind opening
 * a file, a signal handler closing a socket) must not re-enter the tracking. */
extern __thread int sl_in_hook SL_TLS_MODEL;
/* Set in a vforked child, which shares the parent's memory: it must touch no shared state. */
extern __thread int sl_vfork_child SL_TLS_MODEL;

void sl_init(void);

/* A word in a page mapped with MADV_WIPEONFORK, nonzero once sockleak is ready in this process:
 * a process made by clone() without CLONE_VM (a raw clone, no glibc fork wrapper) sees it zero,
 * and is noticed at its first hook without a system call (runtime.c). Before initialization it
 * points to a zero word. */
extern volatile int *sl_live;
int sl_active_slow(void);

/* Whether hooks should record anything now. Cheap: three loads in the common case. */
static inline int sl_active(void)
{
	if (SL_UNLIKELY(sl_vfork_child))
		return 0;
	if (SL_UNLIKELY(!__atomic_load_n(__atomic_load_n(&sl_live, __ATOMIC_RELAXED), __ATOMIC_RELAXED)))
		return sl_active_slow();
	return !sl_rt.disabled;
}

/* Events a signal handler produced while its thread was inside sockleak wait in a per-thread
 * queue (runtime.c). sl_deferred_opens tells whether one of them makes fd. */
extern __thread unsigned sl_defer_head SL_TLS_MODEL, sl_defer_tail SL_TLS_MODEL;
int sl_deferred_opens(int fd);

/* Whether fd is a tracked socket or epoll set (no lock; a hint for skipping work). A socket
 * made by a signal handler that interrupted sockleak is not in the table yet: its close, made
 * in the same handler, must still be recorded (the signal storm test lost such closes, and
 * reported the sockets as never closed). */
static inline int sl_tracked(int fd)
{
	return sl_state_peek(&sl_rt.state, fd) || (SL_UNLIKELY(sl_defer_tail != sl_defer_head) && sl_deferred_opens(fd));
}

/* A Python frame as the capture reads it, before its strings are interned. */
struct sl_pycode; /* python.c's cache entry of a code object */
struct sl_pyframe_raw {
	struct sl_pycode *code; /* or NULL: the frame was read without the cache */
	const char *file;
	const char *function;
	uint32_t file_len, function_len;
	uint32_t line;
};

/* What a hook captured before taking the lock. It lives in the hook's own frame, so it is kept
 * small: the walk is written straight into pcs (room for sockleak's frames and the start frames
 * it then drops), and the Python frames (2 KiB) are in a frame of their own, made only when a
 * Python traceback is taken (runtime.c). */
#define SL_STACK_FULL_WALK (SL_STACK_MAX_DEPTH + 8)
struct sl_capture {
	unsigned n;
	unsigned npy;
	uint64_t pcs[SL_STACK_FULL_WALK];
	struct sl_pyframe_raw *py; /* SL_STACK_MAX_DEPTH frames, or NULL */
};

/* Records an event: applies it to the state (and the event log). Keeps errno. */
void sl_record(struct sl_event *ev);
/* The same, with one frame, the given return address, as the native stack (and the Python
 * traceback): where an EPOLL_CTL_ADD was made costs nothing to know. */
void sl_record_with_caller(struct sl_event *ev, const void *caller);
/* An epoll_ctl's registration (runtime.c): caller is the one frame taken as its stack (an
 * EPOLL_CTL_ADD with epoll_stacks=1), or NULL for none. */
void sl_record_epoll_ctl(int epfd, int op, int fd, uint32_t events, const void *caller);
/* Whether the SSL_free of ssl will be reported (so its stack is worth taking). */
int sl_ssl_free_wants_stack(uint64_t ssl);

/* This thread's errno, without a call to __errno_location() each time: its address is fixed for
 * the life of the thread, and every recorded event saves and restores it. */
extern __thread int *sl_errno_loc SL_TLS_MODEL;
static inline int *sl_errno(void)
{
	int *p = sl_errno_loc;
	if (SL_UNLIKELY(!p))
		sl_errno_loc = p = &errno;
	return p;
}

/* Queues an event made while this thread is inside sockleak (a signal handler's). */
void sl_defer(const struct sl_event *ev);
void sl_commit_capture(struct sl_event *ev, struct sl_capture *cap, int saved_errno);

/* Stops tracking for good, saying why once. */
void sl_disable(const char *why);
/* Writes "sockleak: <message>\n" to stderr (never through stdio). */
void sl_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* stack.c: libunwind is loaded when first needed (stack.c says when that is safe).
 * sl_stack_load loads it if it can now and returns whether it is loaded; the other two are
 * called by the pthread_create, sigaction and signal interposers, before the call. */
int sl_stack_load(void);
void sl_stack_before_thread(void);
void sl_thread_caches_before_thread(void); /* runtime.c: the threads' arena caches */
void sl_stack_before_handler(void);
void sl_stack_after_init(void);
extern int sl_handlers_installed;
void sl_stack_main_thread(void);
size_t sl_stack_room_main(void);
extern int (*sl_unw_backtrace)(void **buffer, int size);

/* The stack a hook may use, and the room left on this thread's stack.
 *
 * Measured on x86-64 (Debian 12: glibc 2.36, libunwind 1.6.2, CPython 3.11) with
 * `build/reliability/smallstack measure` (LD_BIND_NOW=1): the deepest byte a call touched below
 * the program's calling frame, on a painted thread stack. Bare, each call takes 23 to 343 bytes.
 *   socket(), first in its thread, with the walk   5,735 (was 8,295); again: 5,159
 *   socket() without the walk (stack_depth=0)      1,143 (was 3,623)
 *   accept() with the walk                         5,783 (was 8,343)
 *   SSL_new() with the walk                        5,735 (was 8,295)
 *   epoll_ctl() (its one-frame stack)              2,759 (was 7,255)
 *   close()                                          503 (was 367)
 * So libunwind's walk takes about 4.4 KiB. In a CPython thread the traceback takes 2 KiB more
 * than the walk (6,255 against 4,255 bytes below a ctypes call's frame).
 * A walk is taken only when SL_WALK_BUDGET bytes are left below the hook's frame, and a Python
 * traceback only when SL_PYTHON_BUDGET are: the measured depth with room to spare for a signal
 * frame meanwhile (about 3 KiB with AVX-512 state) and its handler. Otherwise the event's stack
 * is the one frame SL_STACK_NOT_TAKEN_PC, which the report prints as "stack not taken". The rest
 * of a hook always runs: its frames are kept small instead, and with less than 6 KiB left the
 * event is committed on a stack mapped for it (runtime.c). */
#define SL_WALK_BUDGET (12 * 1024)
#define SL_PYTHON_BUDGET (16 * 1024)

/* What this thread knows of its stack (stack.c): the room below sp is sp - sl_stack_lo, for sp
 * in [sl_stack_lo + sl_stack_min, sl_stack_lo + sl_stack_min + sl_stack_span). A span of 0
 * means nothing known yet. */
extern __thread uintptr_t sl_stack_lo SL_TLS_MODEL, sl_stack_min SL_TLS_MODEL, sl_stack_span SL_TLS_MODEL;
size_t sl_stack_room_slow(uintptr_t sp);

/* The bytes left below sp on the stack it is on; SIZE_MAX when that cannot be learned (where
 * process_vm_readv is refused): then the walk is taken, as before. */
static inline size_t sl_stack_room(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (SL_LIKELY(sp - sl_stack_lo - sl_stack_min < sl_stack_span))
		return sp - sl_stack_lo;
	return sl_stack_room_slow(sp);
}

/* Takes the current stack, without sockleak's own frames and without the C runtime's start
 * frames at its bottom. Inlined into the one function that records an event with a stack:
 * libunwind pays for every frame it walks (about 100 instructions each), so sockleak's frames
 * and the start frames, walked only to be thrown away, are kept to a minimum (stack.c). */
int sl_stack_walk_size(const void *site);
int sl_stack_finish(struct sl_capture *c, int n, const void *site, int asked);

static inline __attribute__((always_inline)) void sl_stack_capture_inline(struct sl_capture *c)
{
	c->n = 0;
	if (SL_UNLIKELY(!sl_unw_backtrace) && !sl_stack_load())
		return;
	if (SL_UNLIKELY(sl_stack_room() < SL_WALK_BUDGET)) {
		c->pcs[0] = SL_STACK_NOT_TAKEN_PC;
		c->n = 1;
		return;
	}
	const void *site = __builtin_return_address(0);
	int asked = sl_stack_walk_size(site);
	int n = sl_unw_backtrace((void **)c->pcs, asked);
	if (SL_UNLIKELY(sl_stack_finish(c, n, site, asked))) {
		n = sl_unw_backtrace((void **)c->pcs, SL_STACK_FULL_WALK);
		sl_stack_finish(c, n, site, SL_STACK_FULL_WALK);
	}
}

/* Records an event with the caller's stack (and Python traceback) as its stack. Inlined into
 * the hook, so that the stack is taken in the hook's own frame: the only one of sockleak's
 * frames libunwind then walks. */
static inline __attribute__((always_inline)) void sl_record_with_stack(struct sl_event *ev)
{
	if (sl_in_hook) {
		sl_defer(ev);
		return;
	}
	int saved = *sl_errno();
	sl_in_hook = 1;
	struct sl_capture cap;
	cap.n = 0;
	cap.npy = 0;
	cap.py = NULL;
	if (sl_rt.opt.stack_depth > 0)
		sl_stack_capture_inline(&cap);
	sl_commit_capture(ev, &cap, saved);
}

/* ownstack.c: runs fn(arg) on a stack of sockleak's own, mapped for the call (size bytes and
 * a guard page below them), and returns 0; returns -1 without calling fn when no such stack
 * could be mapped. */
int sl_on_own_stack(void (*fn)(void *), void *arg, size_t size);

/* modules.c: the modules now mapped (malloc'd array; free with sl_modules_free). */
const char *sl_exe_path(void);
int sl_modules_collect(struct sl_module **out, unsigned *n);
void sl_modules_free(struct sl_module *mods, unsigned n);
struct dl_phdr_info;
void sl_object_range(const struct dl_phdr_info *info, uint64_t *lo, uint64_t *hi); /* modules.c */
void sl_modules_self_range(const void *addr, uint64_t *lo, uint64_t *hi);
/* The modules in before that are not in after (a dlclose unmapped them) are kept, for the exit
 * report; sl_modules_add_unloaded appends them to a collected list where nothing mapped since
 * took their addresses. */
void sl_modules_note_unloaded(const struct sl_module *before, unsigned nbefore, const struct sl_module *after,
			      unsigned nafter);
int sl_modules_add_unloaded(struct sl_module **mods, unsigned *n);

/* exit_report.c: the exit paths. */
void sl_exit_phase(int phase, int status, int status_known);
void sl_finish(int how, int status, int status_known, int *exit_override);

/* hooks_process.c: the program's main (NULL before it is known). */
void *sl_main_function(void);
/* hooks_ssl.c: a sentence when TLS sessions cannot be seen in this process, else NULL. */
const char *sl_tls_visibility_note(const void *main_fn);
/* hooks_ssl.c: records OpenSSL's own state of every SSL object not yet freed (SL_EV_SSL_SEEN),
 * so that the exit judges live sessions by it. Called with the lock held, before SL_EV_EXIT. */
void sl_tls_observe_live_locked(void);
/* hooks_ssl.c: whether OpenSSL's state can still be read at exit (libssl still mapped); called
 * before the exit takes sockleak's lock. */
void sl_tls_check_readers(void);

/* datapath.c: the read/write/send/recv hooks, patched into the process at its first TLS
 * session, and into each module dlopen brings after that. */
void sl_datapath_enable(void);
void sl_datapath_after_dlopen(void);

/* resolve.c: sl_resolve_all reads the symbol tables of the objects loaded at start-up;
 * sl_resolve then finds a name among them without the loader's lock. */
void sl_resolve_all(void);
void *sl_resolve(const char *name);
int sl_resolve_defined_at_start(const char *name);
int sl_resolve_self_range(uint64_t *lo, uint64_t *hi);
/* Set by the dlopen interposer before each call: when set before start-up, sl_resolve_all
 * looks every name up at once rather than at each hook's first call. */
extern int sl_dlopen_called;
extern int sl_program_dlopened;

/* Declares and resolves the real function behind an interposer, once. The slot is read and
 * written with relaxed atomics: threads that reach a hook for the first time at once all resolve
 * and store the same pointer, which is harmless on the hardware but a data race in C (and for
 * ThreadSanitizer, which reported it in threads_churn). real_NAME is a local copy. */
#define SL_REAL(name) SL_REAL_AS(real_##name, __typeof__(name), #name)

/* The same for a function type and a name given apart: declares var, a pointer to the real
 * function called name (a string). */
#define SL_REAL_AS(var, type, name)                                                                    \
	static type *slot_##var;                                                                       \
	type *var = __atomic_load_n(&slot_##var, __ATOMIC_RELAXED);                                    \
	if (SL_UNLIKELY(!var)) {                                                                       \
		var = (type *)sl_resolve(name);                                                        \
		__atomic_store_n(&slot_##var, var, __ATOMIC_RELAXED);                                  \
	}

/* A call from sockleak to one of its own interposers defined in the same file (execl's call to
 * execve): the compiler makes it a call through the PLT that -Wl,--wrap does not rename (the
 * name is defined in the file), and the loader would bind it at every start-up. SL_OWN_CALL
 * sends it through the name's lazily bound trampoline instead (lazy_imports.list), which binds
 * it to the same function: the program's, when it exports one, else sockleak's interposer. */
#if defined(SL_LAZY_IMPORTS)
#define SL_OWN_CALL(name) __wrap_##name
#define SL_OWN_CALL_DECLARE(name) extern __typeof__(name) __wrap_##name __attribute__((visibility("hidden")))
#else
#define SL_OWN_CALL(name) name
#define SL_OWN_CALL_DECLARE(name) extern __typeof__(name) name
#endif

/* Calls the real function, or fails with ENOSYS when it cannot be found: never a NULL call. */
#define SL_CALL(name, fail, ...) (real_##name ? real_##name(__VA_ARGS__) : (errno = ENOSYS, (fail)))

/* The event log (log_writer.c); a no-op without run_dir. Called with the lock held. */
extern int sl_log_active;
int sl_log_open(const char *run_dir, int forked_from);
void sl_log_event(const struct sl_event *ev);
void sl_log_fork_child(int parent_pid);
void sl_log_close(void);
void sl_log_stop(const char *why); /* tracking stopped: the log ends with a stop note */
void sl_log_note(const char *text);
/* Names the modules loaded since the log last looked (called after dlopen, without the lock). */
void sl_log_rescan_modules(void);
/* Makes a pending log now: the process is about to change its user id or root (no lock held). */
void sl_log_before_access_change(void);

/* Fork handling (runtime.c): registered with pthread_atfork, and used by the _Fork hook. */
/* A process made by a raw clone() is noticed here too (runtime.c), for exit paths. */
void sl_check_new_process(void);
/* blind_spots.c: at exit, with the lock held; then the notes for the report. */
void sl_blind_spots_at_start(void);
void sl_blind_spots_at_exit(void);
unsigned sl_blind_spot_notes(const char **out, unsigned max);
void sl_fork_prepare(void);
void sl_fork_parent(void);
void sl_fork_child(void);

/* Asks the kernel for fd's local and peer addresses and applies them (lock held). */
void sl_fill_addrs_locked(int fd);

/* The lock around the state. */
void sl_lock(void);
void sl_unlock(void);
/* The lock taken where the re-entry guard is clear (not inside a hook): sets the guard while the
 * lock is held and applies what a signal handler deferred meanwhile. */
void sl_lock_outside_hook(void);
/* Ends a section that set the re-entry guard outside an event: the guard restored, and what a
 * signal handler deferred meanwhile applied once it is clear. */
void sl_guard_restore(int guard);
void sl_unlock_outside_hook(void);
/* Applies an event with the lock held (and logs it). */
void sl_apply_locked(struct sl_event *ev);
/* Applies the ends of closes that their threads handed over (sl_close_end), with the lock held:
 * every path that reads or changes the state under the lock calls it first. */
void sl_apply_ends_slow(void);
static inline void sl_apply_ends_locked(void)
{
	if (__atomic_load_n(&sl_rt.ends, __ATOMIC_RELAXED))
		sl_apply_ends_slow();
}

/* A close in two steps (hooks_fd.c). sl_close_begin records SL_EV_CLOSE_BEGIN and returns what
 * the end needs: NULL when the begin set nothing aside (the end would change nothing, and is not
 * recorded), SL_CLOSE_DEFERRED when the begin was queued (a signal handler inside sockleak), or
 * the record it set aside. sl_close_end records the end without taking the lock. */
#define SL_CLOSE_DEFERRED ((struct sl_closing *)1)
struct sl_closing *sl_close_begin(struct sl_event *ev);

/* Applies the end of the close c if the lock is free, and returns 1; returns 0, having changed
 * nothing, when another thread holds it. */
int sl_close_end_here(struct sl_closing *c);

/* The end of a close. It never waits for the lock: taking it a second time for every close cost
 * the churn budget a second round of the commit path (issue 12). When the lock is free, as it
 * mostly is, one compare-and-swap takes it and the closing thread applies its own end at once
 * (sl_close_end_here): the transport it frees is its own, on lines its own core wrote, and goes
 * back to its own arena cache. When another thread holds the lock, the record is handed to the
 * next thread that takes it, with one compare-and-swap, and that thread applies (and logs) the
 * end before anything else it does. (Handing every end over made the other thread finish
 * this thread's transports, two threads churning connections each writing the other's blocks.)
 * Until the end is applied the descriptors stay set aside, as they were while the real close
 * ran; every path that reads the state under the lock (an event, a checkpoint, the exit, a fork)
 * applies the handed-over ends first, so none sees the close unfinished once it is over. A
 * signal handler may push while this thread pushes: the compare-and-swap loop takes it; the
 * list is only ever emptied whole (sl_apply_ends_slow). Inside sockleak (a signal handler that
 * interrupted it) the lock may be this thread's own: the end is handed over then. */
static inline void sl_close_end(struct sl_closing *c, uint64_t key, int outcome, int64_t now)
{
	if (!c)
		return;
	if (c == SL_CLOSE_DEFERRED) {
		struct sl_event ev = {.type = SL_EV_CLOSE_END, .obj = key, .a = outcome, .b = now};
		sl_record(&ev);
		return;
	}
	c->end_outcome = outcome;
	c->end_now = now;
	if (SL_LIKELY(!sl_in_hook) && sl_close_end_here(c))
		return;
	struct sl_closing *head = __atomic_load_n(&sl_rt.ends, __ATOMIC_RELAXED);
	do
		c->end_next = head;
	while (!__atomic_compare_exchange_n(&sl_rt.ends, &head, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}


#endif
