/* Python tracebacks: see docs/python.md for how they are taken. */
#include "python.h"

void sl_python_init(void)
{
}

void sl_python_capture(struct sl_capture *c)
{
	c->npy = 0;
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
