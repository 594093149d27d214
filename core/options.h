/* SOCKLEAK_OPTIONS: every option declared once, here, with its type, default and help. The
 * syntax is the sanitizers': name=value pairs separated by ':'; a value may be quoted ('...' or
 * "...") to hold a ':'. */
#ifndef SOCKLEAK_OPTIONS_H
#define SOCKLEAK_OPTIONS_H

#include <stddef.h>

/* X(name, type, default, help); type is BOOL, INT or STRING. */
#define SL_OPTION_LIST(X)                                                                              \
	X(help, BOOL, 0, "print this list of options to stderr, then run the program")                    \
	X(exitcode, INT, 23, "exit status when an error finding is reported; 0 leaves the status alone")   \
	X(log_path, STRING, "", "write the text report to this file instead of stderr (%p: the pid)")     \
	X(json, STRING, "", "also write the JSON report to this file (%p: the pid)")                       \
	X(report, BOOL, 1, "print the text report at exit (0: only json and exitcode)")                   \
	X(stack_depth, INT, 16, "frames kept per stack, 0 to 64 (0: no stacks)")                           \
	X(epoll_stacks, INT, 1, "where EPOLL_CTL_ADD was called: 0 no, 1 the calling frame, 2 the stack")  \
	X(report_inherited, BOOL, 0, "also judge transports a forked child inherited from its parent")    \
	X(symbolize, BOOL, 1, "resolve frames to function, file and line (libdw)")                         \
	X(color, STRING, "auto", "colour the text report: auto (when it goes to a terminal), always, never") \
	X(native_frames, STRING, "folded", "under a Python traceback: folded (down to the interpreter) or all") \
	X(suppressions, STRING, "", "file of flag:pattern lines whose findings are not reported")         \
	X(default_suppressions, BOOL, 1, "apply the built-in suppressions of runtimes' own internals (trio)") \
	X(tls, BOOL, 1, "track OpenSSL sessions (libssl.so.3)")                                            \
	X(python, BOOL, 1, "record the Python traceback of each transport made from Python code")         \
	X(run_dir, STRING, "", "write the event log into this directory (set by 'sockleak run')")         \
	X(verbosity, INT, 0, "1: a summary line even when nothing is found; 2: notes on what is tracked") \
	X(log_segment_kib, INT, 4096, "start a new event log segment (with the live state) past this many KiB") \
	X(dump_signal, STRING, "", "SIGUSR1 or SIGUSR2: on this signal, write the open transports and go on") \
	X(track, STRING, "sockets", "which descriptors: sockets, pipes (and FIFOs too), all (files, eventfds, ...)") \
	X(fail_alloc_after, INT, 0, "testing: the n-th allocation inside sockleak fails")

/* The longest string value, its '\0' included. Each string option has a slot of this size of
 * its own: setting one again replaces its value, where a shared store once filled up after a
 * few repeats and refused the next with "value too long". */
#define SL_OPTION_STRING_MAX 1024
#define SL_OPT_IS_STRING_BOOL 0
#define SL_OPT_IS_STRING_INT 0
#define SL_OPT_IS_STRING_STRING 1
#define SL_OPT_COUNT_STRING(name, type, def, help) +SL_OPT_IS_STRING_##type
enum { SL_OPTION_STRINGS = 0 SL_OPTION_LIST(SL_OPT_COUNT_STRING) };

struct sl_options {
#define SL_OPT_FIELD_BOOL int
#define SL_OPT_FIELD_INT long
#define SL_OPT_FIELD_STRING const char *
#define SL_OPT_FIELD(name, type, def, help) SL_OPT_FIELD_##type name;
	SL_OPTION_LIST(SL_OPT_FIELD)
#undef SL_OPT_FIELD
	char storage_[SL_OPTION_STRINGS][SL_OPTION_STRING_MAX]; /* string values set by parsing */
};

/* Sets every option to its default. */
void sl_options_defaults(struct sl_options *o);

/* Parses an options string over the current values. Returns 0, or -1 with a message (without
 * the "sockleak: " prefix) in err. */
int sl_options_parse(struct sl_options *o, const char *text, char *err, size_t errsize);

/* Writes the option table, as help=1 prints it. */
struct sl_out;
void sl_options_print_help(struct sl_out *out);

#endif
