/* Python tracebacks for transports made from Python code, and the start of the interpreter's
 * shutdown (docs/python.md explains the choices).
 *
 * CPython releases the GIL around socket(), connect(), epoll_ctl() and SSL_new(), so a hook runs
 * without it. A thread that has a Python thread state takes the GIL back with PyGILState_Ensure,
 * walks its frames with the public frame API, and gives the GIL back: the frames of a thread
 * blocked in a C call cannot change meanwhile. This is done before sockleak's own lock is taken,
 * never under it, so a thread holding the GIL can never wait on sockleak while sockleak waits on
 * the GIL. Nothing is looked up in a process without CPython beyond one failed dlsym at start. */
#include <dlfcn.h>
#include <string.h>
#include <sys/types.h>

#include "python.h"

typedef struct _object PyObject;

static struct {
	int available;
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
	sl_python_ready = py.available;
	sl_in_hook = guard;
}

static int usable_now(void)
{
	return py.available && py.initialized() && !py.finalizing() && py.this_thread_state() != NULL;
}

/* Copies a code object's attribute as UTF-8; the pointer stays valid while the code object
 * lives, which it does as long as its frame is on this thread's stack. */
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

void sl_python_capture(struct sl_capture *c)
{
	c->npy = 0;
	if (!usable_now())
		return;
	int state = py.gil_ensure();
	PyObject *et, *ev, *etb;
	py.err_fetch(&et, &ev, &etb); /* our lookups must not disturb a pending exception */
	struct sl_pyframe_raw inner_first[SL_STACK_MAX_DEPTH];
	unsigned n = 0;
	PyObject *f = py.get_frame(); /* borrowed */
	PyObject *held = NULL;        /* the frame we own a reference to */
	while (f && n < SL_STACK_MAX_DEPTH) {
		PyObject *code = py.frame_code(f);
		if (code) {
			struct sl_pyframe_raw *r = &inner_first[n];
			r->file = code_string(code, "co_filename", &r->file_len);
			r->function = code_string(code, "co_name", &r->function_len);
			r->line = (uint32_t)py.frame_line(f);
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
	py.err_restore(et, ev, etb);
	py.gil_release(state);
	/* Stored outermost first, as Python prints a traceback. */
	for (unsigned i = 0; i < n; i++)
		c->py[i] = inner_first[n - 1 - i];
	c->npy = n;
}

uint32_t sl_python_intern(const struct sl_capture *c)
{
	struct sl_pyframe frames[SL_STACK_MAX_DEPTH];
	unsigned n = 0;
	for (unsigned i = 0; i < c->npy && i < SL_STACK_MAX_DEPTH; i++) {
		const struct sl_pyframe_raw *r = &c->py[i];
		frames[n].file = sl_stacks_add_string(sl_rt.stacks, r->file, r->file_len);
		frames[n].function = sl_stacks_add_string(sl_rt.stacks, r->function, r->function_len);
		frames[n].line = r->line;
		if (!frames[n].file || !frames[n].function)
			return 0;
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
