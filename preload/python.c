/* Python tracebacks for transports made from Python code, and the start of the interpreter's
 * shutdown (docs/python.md explains the choices).
 *
 * CPython releases the GIL around socket(), connect(), epoll_ctl() and SSL_new(), so a hook runs
 * without it. A thread that has a Python thread state takes the GIL back with PyGILState_Ensure,
 * walks its frames with the public frame API, and gives the GIL back: the frames of a thread
 * blocked in a C call cannot change meanwhile. This is done before sockleak's own lock is taken,
 * never under it, so a thread holding the GIL can never wait on sockleak while sockleak waits on
 * the GIL. Nothing is looked up in a process without CPython beyond one failed dlsym at start.
 *
 * What a frame costs (issue 12): CPython computes a line number by walking the code object's
 * line table from its start, and finds co_filename and co_name by attribute lookups; that was
 * 95% of a capture. A frame is now read as its code object and instruction offset, and the
 * names and lines are cached per code object (names) and per (code object, offset) (lines).
 * The cache holds a strong reference to each code object it knows, taken with the GIL held and
 * never given back, so that no other code object can be made at the same address while its
 * entry exists. It is bounded: once full, frames of further code objects are read the old way,
 * with the same result. */
#include <dlfcn.h>
#include <string.h>
#include <sys/types.h>

#include "python.h"

typedef struct _object PyObject;

static struct {
	int available;
	int cache; /* the names and lines of frames are cached (CPython 3.11 and later) */
	void *(*this_thread_state)(void);
	int (*gil_ensure)(void);
	void (*gil_release)(int);
	PyObject *(*get_frame)(void);
	PyObject *(*frame_back)(PyObject *);
	PyObject *(*frame_code)(PyObject *);
	int (*frame_line)(PyObject *);
	PyObject *(*getattr)(PyObject *, const char *);
	const char *(*utf8)(PyObject *, ssize_t *);
	void (*decref)(PyObject *);
	int (*initialized)(void);
	int (*finalizing)(void);
	void (*err_fetch)(PyObject **, PyObject **, PyObject **);
	void (*err_restore)(PyObject *, PyObject *, PyObject *);
	/* For the cache; without any of them, frames are read the old way. */
	int (*frame_lasti)(PyObject *);
	int (*addr2line)(PyObject *, int);
	void (*incref)(PyObject *);
	void *(*interp_get)(void);
	int64_t (*interp_id)(void *);
} py;

static int finalizing_noted;
int sl_python_ready; /* CPython's API was found: the capture has something to do */

int sl_python_available(void)
{
	return py.available;
}

void sl_python_init(void)
{
	int guard = sl_in_hook;
	sl_in_hook = 1;
	struct {
		const char *name;
		void **slot;
	} want[] = {
		{"PyGILState_GetThisThreadState", (void **)&py.this_thread_state},
		{"PyGILState_Ensure", (void **)&py.gil_ensure},
		{"PyGILState_Release", (void **)&py.gil_release},
		{"PyEval_GetFrame", (void **)&py.get_frame},
		{"PyFrame_GetBack", (void **)&py.frame_back},   /* 3.9 and later */
		{"PyFrame_GetCode", (void **)&py.frame_code},   /* 3.9 and later */
		{"PyFrame_GetLineNumber", (void **)&py.frame_line},
		{"PyObject_GetAttrString", (void **)&py.getattr},
		{"PyUnicode_AsUTF8AndSize", (void **)&py.utf8},
		{"Py_DecRef", (void **)&py.decref},
		{"Py_IsInitialized", (void **)&py.initialized},
		{"PyErr_Fetch", (void **)&py.err_fetch},
		{"PyErr_Restore", (void **)&py.err_restore},
	};
	int ok = 1;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]) && ok; i++) {
		*want[i].slot = dlsym(RTLD_DEFAULT, want[i].name);
		ok = *want[i].slot != NULL;
	}
	/* Renamed in 3.13; the old name exists from 3.7 to 3.12. */
	py.finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
	if (!py.finalizing)
		py.finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
	py.available = ok && py.finalizing;
	if (py.available) {
		/* PyFrame_GetLasti came with 3.11: 3.9 and 3.10 read every frame the old way. */
		py.frame_lasti = (int (*)(PyObject *))dlsym(RTLD_DEFAULT, "PyFrame_GetLasti");
		py.addr2line = (int (*)(PyObject *, int))dlsym(RTLD_DEFAULT, "PyCode_Addr2Line");
		py.incref = (void (*)(PyObject *))dlsym(RTLD_DEFAULT, "Py_IncRef");
		py.interp_get = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyInterpreterState_Get");
		py.interp_id = (int64_t(*)(void *))dlsym(RTLD_DEFAULT, "PyInterpreterState_GetID");
		py.cache = py.frame_lasti && py.addr2line && py.incref && py.interp_get && py.interp_id;
	}
	sl_python_ready = py.available;
	sl_in_hook = guard;
}

static int usable_now(void)
{
	return py.available && py.initialized() && !py.finalizing() && py.this_thread_state() != NULL;
}

/* Copies a code object's attribute as UTF-8; the pointer stays valid while the code object
 * lives, which it does as long as its frame is on this thread's stack (or the cache holds it). */
static const char *code_string(PyObject *code, const char *attr, uint32_t *len)
{
	PyObject *s = py.getattr(code, attr);
	if (!s)
		return NULL;
	ssize_t n = 0;
	const char *u = py.utf8(s, &n);
	py.decref(s); /* the code object keeps its own reference */
	*len = u ? (uint32_t)n : 0;
	return u;
}

/* ---- The cache of names and lines ----
 *
 * A code object is known by its address and its interpreter's id: the strong reference keeps
 * the address from being reused within that interpreter, and an interpreter's id is never
 * reused, so an entry left by a subinterpreter that ended (whose memory may be gone) is never
 * matched again. Both tables are open-addressed and never shrink; entries are never removed,
 * so a frame may point at its entry after the GIL is given back.
 *
 * The GIL serializes the capturing threads of one interpreter, but not those of two
 * interpreters that each have their own (3.12 and later): a small lock of its own guards the
 * tables, taken with the GIL held and never waited for. A thread that finds it taken reads its
 * frames the old way. */
struct sl_pycode {
	PyObject *code; /* NULL: a free slot */
	int64_t interp;
	const char *file, *function; /* owned by the code object, which the cache keeps alive */
	uint32_t file_len, function_len;
	/* The strings' ids in the stack store `store`: set under sockleak's lock (sl_python_intern),
	 * and valid only for that store (a cloned child starts a new one). */
	const struct sl_stack_store *store;
	uint32_t file_id, function_id;
};

struct line_slot {
	uint32_t code; /* index in codes + 1; 0: a free slot */
	int32_t lasti;
	int32_t line;
};

#define CODE_SLOTS 2048 /* at most 3/4 of them used: 1,536 code objects */
#define LINE_SLOTS 8192 /* 6,144 (code object, offset) pairs */
static struct sl_pycode codes[CODE_SLOTS];
static struct line_slot lines[LINE_SLOTS];
static unsigned ncodes, nlines;
static int cache_busy;

static inline uint32_t mix(uint64_t x)
{
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (uint32_t)x;
}

/* The entry of a code object, made (and the code object held) on first sight; NULL when the
 * table is full or a name cannot be read. */
static struct sl_pycode *code_entry(PyObject *code, int64_t interp)
{
	uint32_t i = mix((uint64_t)(uintptr_t)code ^ (uint64_t)interp * 0x9e3779b97f4a7c15ULL);
	for (;; i++) {
		struct sl_pycode *e = &codes[i & (CODE_SLOTS - 1)];
		if (e->code == code && e->interp == interp)
			return e;
		if (!e->code)
			break;
	}
	if (ncodes >= CODE_SLOTS / 4 * 3)
		return NULL;
	struct sl_pycode *e = &codes[i & (CODE_SLOTS - 1)];
	e->file = code_string(code, "co_filename", &e->file_len);
	e->function = code_string(code, "co_name", &e->function_len);
	if (!e->file || !e->function)
		return NULL;
	py.incref(code); /* for good: see above */
	e->interp = interp;
	e->code = code;
	ncodes++;
	return e;
}

/* The line of an instruction offset, as PyFrame_GetLineNumber computes it (outside a trace
 * function, the only time it answers anything else: there the frame's line is the one being
 * traced, which is this one). */
static int32_t code_line(struct sl_pycode *e, PyObject *code, int lasti)
{
	uint32_t key = (uint32_t)(e - codes) + 1;
	uint32_t i = mix((uint64_t)key << 32 | (uint32_t)lasti);
	for (;; i++) {
		struct line_slot *l = &lines[i & (LINE_SLOTS - 1)];
		if (l->code == key && l->lasti == lasti)
			return l->line;
		if (!l->code)
			break;
	}
	int32_t line = py.addr2line(code, lasti);
	if (nlines < LINE_SLOTS / 4 * 3) {
		struct line_slot *l = &lines[i & (LINE_SLOTS - 1)];
		l->lasti = lasti;
		l->line = line;
		l->code = key;
		nlines++;
	}
	return line;
}

/* Reads one frame through the cache; 0 when it must be read the old way. */
static int read_cached(PyObject *f, PyObject *code, int64_t interp, struct sl_pyframe_raw *r)
{
	struct sl_pycode *e = code_entry(code, interp);
	if (!e)
		return 0;
	r->code = e;
	r->file = e->file;
	r->file_len = e->file_len;
	r->function = e->function;
	r->function_len = e->function_len;
	r->line = (uint32_t)code_line(e, code, py.frame_lasti(f));
	return 1;
}

static void read_uncached(PyObject *f, PyObject *code, struct sl_pyframe_raw *r)
{
	r->code = NULL;
	r->file = code_string(code, "co_filename", &r->file_len);
	r->function = code_string(code, "co_name", &r->function_len);
	r->line = (uint32_t)py.frame_line(f);
}

void sl_python_capture(struct sl_capture *c)
{
	c->npy = 0;
	if (!usable_now())
		return;
	int state = py.gil_ensure();
	PyObject *et, *ev, *etb;
	py.err_fetch(&et, &ev, &etb); /* our lookups must not disturb a pending exception */
	int cached = py.cache && !__atomic_exchange_n(&cache_busy, 1, __ATOMIC_ACQUIRE);
	int64_t interp = cached ? py.interp_id(py.interp_get()) : 0;
	struct sl_pyframe_raw inner_first[SL_STACK_MAX_DEPTH];
	unsigned n = 0;
	PyObject *f = py.get_frame(); /* borrowed */
	PyObject *held = NULL;        /* the frame we own a reference to */
	while (f && n < SL_STACK_MAX_DEPTH) {
		PyObject *code = py.frame_code(f);
		if (code) {
			struct sl_pyframe_raw *r = &inner_first[n];
			if (!cached || !read_cached(f, code, interp, r))
				read_uncached(f, code, r);
			py.decref(code);
			if (r->file && r->function)
				n++;
		}
		PyObject *back = py.frame_back(f);
		if (held)
			py.decref(held);
		held = back;
		f = back;
	}
	if (held)
		py.decref(held);
	if (cached)
		__atomic_store_n(&cache_busy, 0, __ATOMIC_RELEASE);
	py.err_restore(et, ev, etb);
	py.gil_release(state);
	/* Stored outermost first, as Python prints a traceback. */
	for (unsigned i = 0; i < n; i++)
		c->py[i] = inner_first[n - 1 - i];
	c->npy = n;
}

/* The ids of a frame's strings: a cached code object's are interned once per stack store. */
static int frame_ids(const struct sl_pyframe_raw *r, struct sl_pyframe *out)
{
	struct sl_pycode *e = r->code;
	if (e && e->store == sl_rt.stacks) {
		out->file = e->file_id;
		out->function = e->function_id;
		return 1;
	}
	out->file = sl_stacks_add_string(sl_rt.stacks, r->file, r->file_len);
	out->function = sl_stacks_add_string(sl_rt.stacks, r->function, r->function_len);
	if (!out->file || !out->function)
		return 0;
	if (e) {
		e->file_id = out->file;
		e->function_id = out->function;
		e->store = sl_rt.stacks;
	}
	return 1;
}

uint32_t sl_python_intern(const struct sl_capture *c)
{
	struct sl_pyframe frames[SL_STACK_MAX_DEPTH];
	unsigned n = 0;
	for (unsigned i = 0; i < c->npy && i < SL_STACK_MAX_DEPTH; i++) {
		const struct sl_pyframe_raw *r = &c->py[i];
		if (!frame_ids(r, &frames[n]))
			return 0;
		frames[n].line = r->line;
		n++;
	}
	return sl_stacks_add_python(sl_rt.stacks, frames, n);
}

/* A socket closed while the interpreter is shutting down was closed by the garbage collector,
 * not by the program: mark the start of that cleanup once, before the first such close. */
void sl_python_check_finalizing(void)
{
	if (!py.available || finalizing_noted || !py.finalizing())
		return;
	finalizing_noted = 1;
	struct sl_event ev = {.type = SL_EV_EXIT_PHASE, .a = SL_EXIT_PHASE_RUNTIME_FINALIZING};
	sl_record(&ev);
}
