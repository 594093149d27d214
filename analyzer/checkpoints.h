/* Issue 14 under 'sockleak run': the checkpoints the logs recorded (sockleak_check), rendered
 * for the run's JSON with the exit report's builder, suppressions and format. */
#ifndef SOCKLEAK_CHECKPOINTS_H
#define SOCKLEAK_CHECKPOINTS_H

#include "../core/report.h"
#include "run.h"

/* Renders every checkpoint of the run that reports a transport (after suppressions) as the
 * preload does (sl_report_checkpoint_json), into run->checkpoint_json, with the index of its
 * process in run->checkpoint_proc. Returns 0, or -1 when memory ran out. */
int sl_run_checkpoints(struct sl_run *run, const struct sl_report_config *cfg);

#endif
