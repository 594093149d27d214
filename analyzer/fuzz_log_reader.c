/* libFuzzer target for the event log reader: any bytes, as a log file, must give either a
 * replay or a defect with its offset, never a crash, a leak or undefined behaviour. Each input
 * is also carried through what the analyzer does next (an ending for a process that died, the
 * report built and written as text and JSON), since a hostile log reaches all of it.
 *
 *   make build/fuzz_log_reader
 *   build/fuzz_log_reader -max_total_time=60 CORPUS_DIR analyzer/fuzz-corpus */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/out.h"
#include "../core/report.h"
#include "log_reader.h"

static int null_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct sl_state *state = calloc(1, sizeof(*state));
	if (!state)
		return 0;
	struct sl_image img;
	memset(&img, 0, sizeof(img));
	/* The inherited transports are judged too: more of the rules run. */
	struct sl_state_config cfg = {.report_inherited = size > 0 && (data[size - 1] & 1)};
	sl_log_replay(&img, state, &cfg, data, size);
	if (img.have_process) {
		sl_image_finish_killed(&img);
		struct sl_report_proc proc = {
			.pid = (int)img.pid,
			.ppid = (int)img.ppid,
			.argc = img.argc,
			.argv = img.argv,
			.state = state,
			.mods = img.mods,
			.nmods = img.nmods,
			.signal = 9,
			.parent = -1,
			.exec_of = -1,
		};
		struct sl_report_config rcfg = {.symbolize = 0, .supp = NULL};
		struct sl_report r;
		if (sl_report_build(&r, &proc, 1, &rcfg) == 0) {
			struct sl_out out;
			sl_out_init(&out, null_fd);
			sl_report_text(&r, &out, 1);
			sl_report_json(&r, &out);
			sl_out_flush(&out);
		}
		sl_report_free(&r);
	}
	sl_image_free(&img);
	free(state);
	return 0;
}
