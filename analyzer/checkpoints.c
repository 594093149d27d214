#include "checkpoints.h"

#include <stdlib.h>

#include "../core/out.h"

static int render(struct sl_run *run, unsigned p, const struct sl_image_checkpoint *c,
		  const struct sl_report_config *cfg)
{
	struct sl_report r;
	int rc = sl_report_build_checkpoint(&r, &run->procs[p], cfg, c->list, c->n, c->label);
	if (rc < 0 || r.nitems == 0) {
		sl_report_free(&r);
		return rc < 0 ? -1 : 0;
	}
	struct sl_out out;
	sl_out_init_mem(&out);
	sl_report_checkpoint_json(&r, &out);
	sl_out_write(&out, "", 1); /* the terminating '\0' */
	sl_report_free(&r);
	if (sl_out_flush(&out)) {
		free(out.mem);
		return -1;
	}
	char **nj = realloc(run->checkpoint_json, (run->ncheckpoints + 1) * sizeof(*nj));
	if (nj)
		run->checkpoint_json = nj;
	unsigned *np = realloc(run->checkpoint_proc, (run->ncheckpoints + 1) * sizeof(*np));
	if (np)
		run->checkpoint_proc = np;
	if (!nj || !np) {
		free(out.mem);
		return -1;
	}
	nj[run->ncheckpoints] = out.mem;
	np[run->ncheckpoints++] = p;
	return 0;
}

int sl_run_checkpoints(struct sl_run *run, const struct sl_report_config *cfg)
{
	for (unsigned p = 0; p < run->n; p++) {
		const struct sl_image *img = &run->v[p]->img;
		for (unsigned k = 0; k < img->ncheckpoints; k++)
			if (render(run, p, &img->checkpoints[k], cfg) < 0)
				return -1;
	}
	return 0;
}
