/* Interposers for epoll sets: their creation and their registrations. */
#include <sys/epoll.h>

#include "hooks_files.h"
#include "preload.h"

/* Under track=all (issue 15) the set is also a descriptor to report if left open: a = 1, and
 * the stack where it was made. */
static inline __attribute__((always_inline)) void record_create(int fd)
{
	struct sl_event ev = {.type = SL_EV_EPOLL_CREATE, .fd = fd};
	if (SL_UNLIKELY(sl_track_level == SL_TRACK_ALL) && !sl_in_hook) {
		ev.a = 1;
		sl_record_with_stack(&ev);
	} else {
		sl_record(&ev);
	}
}

SL_EXPORT int epoll_create(int size)
{
	SL_REAL(epoll_create);
	int fd = SL_CALL(epoll_create, -1, size);
	if (fd >= 0 && sl_active())
		record_create(fd);
	return fd;
}

SL_EXPORT int epoll_create1(int flags)
{
	SL_REAL(epoll_create1);
	int fd = SL_CALL(epoll_create1, -1, flags);
	if (fd >= 0 && sl_active())
		record_create(fd);
	return fd;
}

/* An EPOLL_CTL_ADD with epoll_stacks=2: the whole stack, taken in a frame of its own so that the
 * hook's frame stays small for the common case (the frame is sockleak's, left out of the stack). */
static __attribute__((noinline)) void record_with_stack(int epfd, int op, int fd, uint32_t events)
{
	struct sl_event ev = {.type = SL_EV_EPOLL_CTL, .fd = epfd, .fd2 = fd, .a = op, .b = events};
	sl_record_with_stack(&ev);
}

SL_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	SL_REAL(epoll_ctl);
	int r = SL_CALL(epoll_ctl, -1, epfd, op, fd, event);
	/* Only registrations of sockets in tracked sets matter; pipes, eventfds and timers do not. */
	if (r == 0 && sl_tracked(epfd) && sl_tracked(fd) && sl_active()) {
		uint32_t events = event ? event->events : 0;
		/* By default the registration's stack is the one frame that called epoll_ctl: it names
		 * the line, costs nothing, and a Python traceback is still taken in Python. */
		if (op != EPOLL_CTL_ADD || sl_rt.opt.epoll_stacks == 0)
			sl_record_epoll_ctl(epfd, op, fd, events, NULL);
		else if (sl_rt.opt.epoll_stacks == 1)
			sl_record_epoll_ctl(epfd, op, fd, events, __builtin_return_address(0));
		else
			record_with_stack(epfd, op, fd, events);
	}
	return r;
}
