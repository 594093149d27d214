#include "flags.h"

#include <string.h>

const struct sl_flag_info sl_flag_table[SL_FLAG_COUNT] = {
	[SL_FLAG_NEVER_CLOSED] = {"never-closed", SL_SEV_ERROR,
		"the socket is still open, by some descriptor, when the process exits"},
	[SL_FLAG_CLOSED_AT_EXIT] = {"closed-at-exit", SL_SEV_ERROR,
		"its last descriptor was closed only by exit-time cleanup, not by the program"},
	[SL_FLAG_READER_NOT_REMOVED] = {"reader-not-removed", SL_SEV_ERROR,
		"still registered in an epoll set, and still open, when that epoll set was closed or the "
		"process exited (EPOLL_CTL_ADD never matched by EPOLL_CTL_DEL)"},
	[SL_FLAG_CLOSED_WHILE_REGISTERED] = {"closed-while-registered", SL_SEV_WARNING,
		"a descriptor was closed while registered in an epoll set, but the socket stayed open "
		"through another descriptor, so the kernel kept delivering events for a closed number"},
	[SL_FLAG_TLS_SHUTDOWN_ABANDONED] = {"tls-shutdown-abandoned", SL_SEV_ERROR,
		"a two-way TLS shutdown was begun and teardown cut the wait for the peer's close_notify "
		"short (exit-time cleanup, still waiting at exit, or its event loop closed under it)"},
	[SL_FLAG_TLS_NO_CLOSE_NOTIFY] = {"tls-no-close-notify", SL_SEV_WARNING,
		"a TLS session whose handshake completed ended without sending close_notify"},
	[SL_FLAG_TLS_NOT_FREED] = {"tls-not-freed", SL_SEV_ERROR,
		"an SSL object is still allocated when the process exits (never freed, or a reference "
		"taken with SSL_up_ref never released)"},
	[SL_FLAG_PROCESS_KILLED] = {"process-killed", SL_SEV_WARNING,
		"the process died without exiting (killed by a signal) while the transport was open"},
};

int sl_flag_by_id(const char *id, unsigned len)
{
	for (int i = 0; i < SL_FLAG_COUNT; i++)
		if (strlen(sl_flag_table[i].id) == len && memcmp(sl_flag_table[i].id, id, len) == 0)
			return i;
	return -1;
}

const char *sl_severity_name(enum sl_severity s)
{
	return s == SL_SEV_ERROR ? "error" : "warning";
}
