/* The start of Perl's and Ruby's exit-time cleanup. A socket an interpreter closes while it tears
 * itself down was closed by nothing in the program, exactly like one the C runtime closes after
 * main returned: it is closed-at-exit, and the report names the interpreter that closed it.
 * Python's shutdown is found by python.c; both cost nothing in a program without the runtime.
 *
 * Ruby: libruby calls ruby_sig_finalize() through its PLT once, at the start of its finalizer
 * phase (rb_ec_finalize, after the at_exit blocks and the other threads have ended, just before
 * every remaining object is finalized and every IO closed). The interposer below marks the phase
 * and calls the real function.
 *
 * Perl: Debian's /usr/bin/perl is linked with libperl statically, so main's call to
 * perl_destruct() cannot be interposed. A close of a tracked socket is judged instead by its
 * stack: perl_destruct on it means the interpreter's global destruction is closing the socket,
 * unless Perl_call_list lies between (an END block, which is the program's own code). The walk is
 * made only in a process that has perl_destruct, only for a socket's close, and only until the
 * phase has been marked. */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>

#include "preload.h"
#include "python.h"

struct code_range {
	uint64_t lo, hi;
};

static struct code_range perl_destruct_code, perl_call_list_code;
static int perl_noted;

/* A function's extent from its dynamic symbol. Returns 0 when it is not there. */
static int function_range(const char *name, struct code_range *r)
{
	void *p = dlsym(RTLD_DEFAULT, name);
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (!p || !dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0)
		return 0;
	r->lo = (uint64_t)(uintptr_t)p;
	r->hi = r->lo + sym->st_size;
	return 1;
}

void sl_runtimes_init(void)
{
	int guard = sl_in_hook;
	sl_in_hook = 1; /* dlsym and dladdr may allocate */
	if (function_range("perl_destruct", &perl_destruct_code))
		function_range("Perl_call_list", &perl_call_list_code);
	sl_guard_restore(guard);
}

/* An embedded libperl loaded with dlopen (an editor's or a server's Perl plugin). */
void sl_runtimes_after_dlopen(void)
{
	if (!perl_destruct_code.hi)
		sl_runtimes_init();
}

static int in_range(const struct code_range *r, uint64_t pc)
{
	return pc >= r->lo && pc < r->hi;
}

/* Deep enough for global destruction's DESTROY calls (sv_clean_objs, sv_clear, call_sv, runops,
 * pp_close, PerlIO's layers) and shallow on the stack: 768 bytes. */
#define PERL_WALK 96

static void perl_check_destruct(void)
{
	if (!perl_destruct_code.hi || perl_noted || (!sl_unw_backtrace && !sl_stack_load()))
		return;
	void *pcs[PERL_WALK];
	int guard = sl_in_hook;
	sl_in_hook = 1; /* libunwind may open and close files: none of that is the program's */
	int n = sl_unw_backtrace(pcs, PERL_WALK);
	sl_guard_restore(guard);
	for (int i = 1; i < n; i++) {
		/* A return address: the call itself is the byte before it. */
		uint64_t pc = (uint64_t)(uintptr_t)pcs[i] - 1;
		if (in_range(&perl_call_list_code, pc))
			return;
		if (in_range(&perl_destruct_code, pc)) {
			perl_noted = 1;
			sl_exit_phase(SL_EXIT_PHASE_PERL_DESTRUCT, 0, 0);
			return;
		}
	}
}

void sl_runtimes_check_exit(void)
{
	sl_python_check_finalizing();
	perl_check_destruct();
}

SL_EXPORT void ruby_sig_finalize(void)
{
	SL_REAL(ruby_sig_finalize);
	if (sl_active())
		sl_exit_phase(SL_EXIT_PHASE_RUBY_FINALIZING, 0, 0);
	if (real_ruby_sig_finalize)
		real_ruby_sig_finalize();
}
