/* Interposers for the calls that may take away a process's access to the run folder: a change
 * of user id (a server started as root that drops to a service user) and chroot. The event log
 * is made at a process's first event (issue 12); a process that drops its rights before its
 * first socket could then not create it, nor say that it could not. So a pending log is made
 * just before such a call, while the folder can still be written (log_writer.c). The calls
 * themselves are passed on untouched. */
#include <unistd.h>

#include "preload.h"

/* Makes the pending log, if this process is tracked and has none yet. */
static void before_change(void)
{
	if (sl_log_active && sl_active())
		sl_log_before_access_change();
}

#define SL_ID_HOOK(name, params, args)                                                                 \
	SL_EXPORT int name params                                                                      \
	{                                                                                              \
		SL_REAL(name);                                                                         \
		before_change();                                                                       \
		return SL_CALL(name, -1, SL_ID_UNPAREN args);                                         \
	}
#define SL_ID_UNPAREN(...) __VA_ARGS__

SL_ID_HOOK(setuid, (uid_t uid), (uid))
SL_ID_HOOK(seteuid, (uid_t uid), (uid))
SL_ID_HOOK(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
SL_ID_HOOK(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))
SL_ID_HOOK(setfsuid, (uid_t uid), (uid))
SL_ID_HOOK(chroot, (const char *path), (path))
