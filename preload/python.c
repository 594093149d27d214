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
 * The cache holds a weak reference to each code object it knows, whose callback frees the entry
 * when the code object dies, before another can be made at its address. It is bounded: once
 * full, frames of further code objects are read the old way, with the same result. */
#include <dlfcn.h>
#include <string.h>
#include <sys/types.h>

#include "python.h"

typedef struct _object PyObject;
/* CPython's PyMethodDef, for the one C function the cache makes (code_died). */
typedef struct {
	const char *ml_name;
	PyObject *(*ml_meth)(PyObject *, PyObject *);
	int ml_flags;
	const char *ml_doc;
} PyMethodDef;
#define METH_O 0x0008

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
	void *(*interp_main)(void);
	PyObject *(*weakref_new)(PyObject *, PyObject *);
	PyObject *(*cfunction_new)(PyMethodDef *, PyObject *, PyObject *);
	int (*gc_disable)(void);
	int (*gc_enable)(void);
	void (*err_clear)(void);
	int (*at_exit)(void (*)(void));
	PyObject *none;
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
	/* Renamed in 3.13; the old name exists from 3.7 to 3.12. Not asked of a process without
	 * CPython (each dlsym is about 2,000 instructions of every process's start-up). */
	if (ok) {
		py.finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
		if (!py.finalizing)
			py.finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
	}
	py.available = ok && py.finalizing;
	if (py.available) {
		/* PyFrame_GetLasti came with 3.11: 3.9 and 3.10 read every frame the old way. */
		py.frame_lasti = (int (*)(PyObject *))dlsym(RTLD_DEFAULT, "PyFrame_GetLasti");
		py.addr2line = (int (*)(PyObject *, int))dlsym(RTLD_DEFAULT, "PyCode_Addr2Line");
		py.incref = (void (*)(PyObject *))dlsym(RTLD_DEFAULT, "Py_IncRef");
		py.interp_get = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyInterpreterState_Get");
		py.interp_main = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyInterpreterState_Main");
		py.weakref_new = (PyObject * (*)(PyObject *, PyObject *)) dlsym(RTLD_DEFAULT, "PyWeakref_NewRef");
		py.cfunction_new = (PyObject * (*)(PyMethodDef *, PyObject *, PyObject *))
			dlsym(RTLD_DEFAULT, "PyCFunction_NewEx");
		py.gc_disable = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGC_Disable");
		py.gc_enable = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGC_Enable");
		py.err_clear = (void (*)(void))dlsym(RTLD_DEFAULT, "PyErr_Clear");
		py.at_exit = (int (*)(void (*)(void)))dlsym(RTLD_DEFAULT, "Py_AtExit");
		py.none = (PyObject *)dlsym(RTLD_DEFAULT, "_Py_NoneStruct");
		/* A free-threaded build (3.13t and later: only it has this function) runs callbacks
		 * and captures at once, with no GIL to order them: it reads frames the old way. */
		int free_threaded = dlsym(RTLD_DEFAULT, "_Py_MergeZeroLocalRefcount") != NULL;
		py.cache = py.frame_lasti && py.addr2line && py.incref && py.interp_get && py.interp_main &&
			   py.weakref_new && py.cfunction_new && py.gc_disable && py.gc_enable &&
			   py.err_clear && py.none && py.at_exit && !free_threaded;
	}
	sl_python_ready = py.available;
	sl_in_hook = guard;
}

static int usable_now(void)
{
	return py.available && py.initialized() && !py.finalizing() && py.this_thread_state() != NULL;
}

/* Copies a code object's attribute as UTF-8; the pointer stays valid while the code object
 * lives, which it does as long as its frame is on this thread's stack (and a cache entry as
 * long as it lives). */
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
 * A code object is known by its address while it lives: the cache holds a weak reference to
 * each code object it knows, whose callback (run by CPython, with the GIL held, when the code
 * object dies) frees its entry before any other object can be made at that address. A strong
 * reference would do the same but change what the program sees: sys.getrefcount of its code
 * objects, their weak references that never die, their constants kept in memory.
 *
 * Only the main interpreter's code objects are cached: the callback and the weak references are
 * objects of that interpreter, and must not be shared with interpreters that have a GIL of their
 * own (3.12 and later). Frames of other interpreters are read the old way. The GIL serializes
 * every use of the tables (a capture, a callback); cache_busy is taken by a capture with the GIL
 * held, so a callback that finds it taken runs inside that capture, on the same thread (which
 * cannot happen: no garbage is collected there, see code_entry), at a point where the tables
 * are whole. A forked child whose parent had a thread inside them (a fork from C, by a thread
 * without the GIL) starts them anew (sl_python_fork_child).
 *
 * An entry is never freed while a frame of its code object is on a thread's stack: a hook's
 * capture may point at its entry until sl_python_intern, later in the same hook. */
struct sl_pycode {
	PyObject *code; /* the address, not a reference; NULL: a free entry */
	PyObject *ref;  /* the weak reference to it, owned by the cache */
	uint32_t gen;   /* bumped when the entry is freed: older line slots no longer match */
	const char *file, *function; /* owned by the code object */
	uint32_t file_len, function_len;
	/* The strings' ids in the stack store `store`: set under sockleak's lock (sl_python_intern),
	 * and valid only for that store (a cloned child starts a new one). */
	const struct sl_stack_store *store;
	uint32_t file_id, function_id;
};

struct line_slot {
	uint32_t code; /* entry index + 1; 0: a free slot */
	uint32_t gen;
	int32_t lasti;
	int32_t line;
};

#define MAX_CODES 1536
#define INDEX_SLOTS 2048 /* open-addressed, at most 3/4 full */
#define INDEX_MASK (INDEX_SLOTS - 1)
#define LINE_SLOTS 8192 /* 6,144 (code object, offset) pairs, then emptied */
static struct sl_pycode codes[MAX_CODES];
/* Entry index + 1 by code object and by weak reference (the callback is given the latter). */
static uint16_t by_code[INDEX_SLOTS], by_ref[INDEX_SLOTS];
static uint16_t free_codes[MAX_CODES];
static unsigned ncodes_made, nfree_codes, nlive_codes;
/* Weak references of freed entries, released at the next capture (not inside the callback
 * CPython is calling with that reference). Entries and these together stay under MAX_CODES. */
static PyObject *dead_refs[MAX_CODES];
static unsigned ndead_refs;
static struct line_slot lines[LINE_SLOTS];
static unsigned nlines;
static int cache_busy;
static PyObject *code_died_callback;

static inline uint32_t mix(uint64_t x)
{
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (uint32_t)x;
}

static const void *index_key(const uint16_t *index, uint16_t v)
{
	const struct sl_pycode *e = &codes[v - 1];
	return index == by_code ? (const void *)e->code : (const void *)e->ref;
}

static uint32_t index_home(const void *key)
{
	return mix((uint64_t)(uintptr_t)key) & INDEX_MASK;
}

/* The slot of key in index, or the free slot that ends its probe. */
static uint32_t index_find(const uint16_t *index, const void *key)
{
	uint32_t i = index_home(key);
	while (index[i] && index_key(index, index[i]) != key)
		i = (i + 1) & INDEX_MASK;
	return i;
}

/* Empties slot i, moving back the slots after it whose probe passes through it (linear
 * probing's deletion, which leaves no tombstones). */
static void index_remove(uint16_t *index, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		index[i] = 0;
		for (;;) {
			j = (j + 1) & INDEX_MASK;
			if (!index[j])
				return;
			uint32_t k = index_home(index_key(index, index[j]));
			if (((i - k) & INDEX_MASK) < ((j - k) & INDEX_MASK))
				break; /* i lies on j's probe, from k to j: j's entry moves there */
		}
		index[i] = index[j];
		i = j;
	}
}

/* The weak reference's callback: its code object is dying, so its address may be reused.
 * Never raises (a NULL return would print an exception). */
static PyObject *code_died(PyObject *self, PyObject *ref)
{
	(void)self;
	int mine = !__atomic_exchange_n(&cache_busy, 1, __ATOMIC_ACQUIRE);
	uint32_t i = index_find(by_ref, ref);
	if (by_ref[i]) { /* else not ours any more: a forked child that started its tables anew */
		unsigned k = by_ref[i] - 1u;
		struct sl_pycode *e = &codes[k];
		index_remove(by_ref, i);
		index_remove(by_code, index_find(by_code, e->code));
		dead_refs[ndead_refs++] = ref;
		e->code = NULL;
		e->ref = NULL;
		e->store = NULL;
		e->gen++;
		free_codes[nfree_codes++] = (uint16_t)k;
		nlive_codes--;
	}
	if (mine)
		__atomic_store_n(&cache_busy, 0, __ATOMIC_RELEASE);
	py.incref(py.none);
	return py.none;
}

static PyMethodDef code_died_def = {"sockleak_code_died", code_died, METH_O, NULL};

/* The entry of a code object, made (with its weak reference) on first sight; NULL when the
 * table is full, a name cannot be read or no weak reference can be made. */
static struct sl_pycode *code_entry(PyObject *code)
{
	uint32_t i = index_find(by_code, code);
	if (by_code[i])
		return &codes[by_code[i] - 1];
	if (nlive_codes + ndead_refs >= MAX_CODES)
		return NULL;
	uint32_t file_len, function_len;
	const char *file = code_string(code, "co_filename", &file_len);
	const char *function = code_string(code, "co_name", &function_len);
	if (!file || !function) {
		py.err_clear();
		return NULL;
	}
	/* A weak reference is an object the garbage collector tracks: making one may start a
	 * collection in 3.11, which would run the program's finalizers here, inside a socket call
	 * (and this callback inside this function). Collection is held off for that instant. */
	int collecting = py.gc_disable();
	if (!code_died_callback)
		code_died_callback = py.cfunction_new(&code_died_def, NULL, NULL);
	PyObject *ref = code_died_callback ? py.weakref_new(code, code_died_callback) : NULL;
	if (collecting)
		py.gc_enable();
	if (!ref) {
		py.err_clear();
		return NULL;
	}
	unsigned k = nfree_codes ? free_codes[--nfree_codes] : ncodes_made++;
	struct sl_pycode *e = &codes[k];
	e->code = code;
	e->ref = ref;
	e->file = file;
	e->file_len = file_len;
	e->function = function;
	e->function_len = function_len;
	e->store = NULL;
	by_code[index_find(by_code, code)] = (uint16_t)(k + 1);
	by_ref[index_find(by_ref, ref)] = (uint16_t)(k + 1);
	nlive_codes++;
	return e;
}

/* The line of an instruction offset, as PyFrame_GetLineNumber computes it (outside a trace
 * function, the only time it answers anything else: there the frame's line is the one being
 * traced, which is this one). */
static int32_t code_line(struct sl_pycode *e, PyObject *code, int lasti)
{
	uint32_t key = (uint32_t)(e - codes) + 1;
	uint32_t i = mix((uint64_t)key << 32 ^ (uint64_t)e->gen << 40 ^ (uint32_t)lasti);
	for (;; i++) {
		struct line_slot *l = &lines[i & (LINE_SLOTS - 1)];
		if (l->code == key && l->gen == e->gen && l->lasti == lasti)
			return l->line;
		if (!l->code)
			break;
	}
	int32_t line = py.addr2line(code, lasti);
	if (nlines >= LINE_SLOTS / 4 * 3) { /* full (of stale slots too): start again */
		memset(lines, 0, sizeof(lines));
		nlines = 0;
		i = mix((uint64_t)key << 32 ^ (uint64_t)e->gen << 40 ^ (uint32_t)lasti);
	}
	struct line_slot *l = &lines[i & (LINE_SLOTS - 1)];
	l->gen = e->gen;
	l->lasti = lasti;
	l->line = line;
	l->code = key;
	nlines++;
	return line;
}

/* A forked child has one thread: if another thread of the parent was inside the tables, they
 * may be half updated, and that thread will never let go of them. They start anew (the weak
 * references they held are left to the child's interpreter; their callbacks find nothing). */
void sl_python_fork_child(void)
{
	if (!__atomic_load_n(&cache_busy, __ATOMIC_RELAXED))
		return;
	memset(by_code, 0, sizeof(by_code));
	memset(by_ref, 0, sizeof(by_ref));
	memset(codes, 0, sizeof(codes));
	memset(lines, 0, sizeof(lines));
	ncodes_made = nfree_codes = nlive_codes = ndead_refs = nlines = 0;
	__atomic_store_n(&cache_busy, 0, __ATOMIC_RELAXED);
}

/* The end of an interpreter (Py_FinalizeEx calls this last, once the objects it frees are
 * freed): the cache's objects, weak references and callback alike, were that interpreter's. An
 * embedding program that calls Py_Initialize again gets a new one, where they must not be used
 * (decref'ing an old weak reference crashed the second Py_FinalizeEx), and where code objects
 * the old one never freed no longer tell an address apart. They are forgotten, not released. */
static int cache_at_exit_set;

static void cache_interpreter_ended(void)
{
	for (unsigned k = 0; k < ncodes_made; k++) {
		codes[k].code = NULL;
		codes[k].ref = NULL;
		codes[k].store = NULL;
		codes[k].gen++; /* its line slots no longer match */
		free_codes[k] = (uint16_t)k;
	}
	nfree_codes = ncodes_made;
	nlive_codes = ndead_refs = 0;
	memset(by_code, 0, sizeof(by_code));
	memset(by_ref, 0, sizeof(by_ref));
	code_died_callback = NULL;
	cache_at_exit_set = 0;
}

/* Reads one frame through the cache; 0 when it must be read the old way. */
static int read_cached(PyObject *f, PyObject *code, struct sl_pyframe_raw *r)
{
	struct sl_pycode *e = code_entry(code);
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
	int cached = py.cache && py.interp_get() == py.interp_main() &&
		     !__atomic_exchange_n(&cache_busy, 1, __ATOMIC_ACQUIRE);
	if (cached && !cache_at_exit_set) {
		/* Once per interpreter: Py_AtExit's table is emptied by each Py_FinalizeEx. A full
		 * table leaves the cache unused. */
		cache_at_exit_set = py.at_exit(cache_interpreter_ended) == 0;
		if (!cache_at_exit_set) {
			__atomic_store_n(&cache_busy, 0, __ATOMIC_RELEASE);
			cached = 0;
		}
	}
	while (cached && ndead_refs)
		py.decref(dead_refs[--ndead_refs]); /* dead weak references: no code runs */
	struct sl_pyframe_raw inner_first[SL_STACK_MAX_DEPTH];
	unsigned n = 0;
	PyObject *f = py.get_frame(); /* borrowed */
	PyObject *held = NULL;        /* the frame we own a reference to */
	while (f && n < SL_STACK_MAX_DEPTH) {
		PyObject *code = py.frame_code(f);
		if (code) {
			struct sl_pyframe_raw *r = &inner_first[n];
			if (!cached || !read_cached(f, code, r))
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
