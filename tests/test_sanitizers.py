"""The preload built with AddressSanitizer+UBSan and with ThreadSanitizer (issue 7), run over the
threaded churn and the fork, exec and vfork programs: each must give exactly its expected report
(testapps/*.c EXPECT lines) and the sanitizer must report nothing.

A sanitized library preloaded into a program that is not instrumented needs the sanitizer's
runtime loaded before it: LD_PRELOAD="<libasan.so> build/asan/libsockleak.so". The runtime then
intercepts the program's calls first and passes them on to sockleak's interposers (its REAL()
functions are found with RTLD_NEXT, which is sockleak). Sanitizer reports go to files here, so
that the report check and the sanitizer check are separate.

Under ThreadSanitizer:
  - stacks are off (stack_depth=0): libunwind's unw_backtrace keeps a per-thread cache whose
    destructor, like TSan's own, defers itself to the last destructor round; it then runs after
    TSan has finished the thread and crashes inside TSan's pthread_mutex_lock interceptor. That
    is libunwind against TSan, not sockleak; the ASan run keeps stacks on.
  - TSan replaces vfork() by fork() (its interceptor), so sockleak's vfork wrapper never runs and
    the vforked child becomes a forked child with its own (empty) report: vfork_child is checked
    under ASan only, and under TSan as the fork it becomes (three reports instead of two).
"""

import glob
import os
import subprocess
import tempfile
import threading

import apps
from common import BUILD, ROOT, Failure, expect, run

APPS = ["threads_churn", "threads_close_create", "fork_child", "fork_report_inherited", "exec_inherit", "vfork_child",
        "posix_spawn_child", "track_threads", "track_files", "track_pipes"]  # the last three: issue 15

_built = threading.Lock()
_done = []


def build():
    with _built:
        if not _done:
            p = run(["make", "-s", "-C", ROOT, "sanitize-build"], timeout=600)
            expect(p.returncode == 0, "make sanitize-build failed:\n%s%s" % (p.stdout, p.stderr[-3000:]))
            _done.append(True)


def runtime(name):
    return subprocess.run(["gcc", "-print-file-name=%s" % name], capture_output=True, text=True).stdout.strip()


def check(variant, app, tmp):
    build()
    if variant == "asan":
        preload = "%s %s" % (runtime("libasan.so"), os.path.join(BUILD, "asan", "libsockleak.so"))
        # detect_leaks=0: LeakSanitizer would judge the host program's own allocations too.
        env = {"ASAN_OPTIONS": "detect_leaks=0:log_path=%s/asan" % tmp,
               "UBSAN_OPTIONS": "print_stacktrace=1:log_path=%s/ubsan" % tmp}
        options = ""
    else:
        preload = "%s %s" % (runtime("libtsan.so"), os.path.join(BUILD, "tsan", "libsockleak.so"))
        env = {"TSAN_OPTIONS": "log_path=%s/tsan:halt_on_error=0" % tmp}
        options = "stack_depth=0"
    note = apps.check_app(app, preload=preload, extra_env=env, extra_options=options,
                          match_function=variant == "asan")
    found = sorted(glob.glob(os.path.join(tmp, "*san*")))
    if found:
        text = "".join(open(p, errors="replace").read() for p in found)
        raise Failure("%s reported on %s:\n%s" % (variant, app, text[-4000:]))
    return note


def make_test(variant, app):
    def test():
        with tempfile.TemporaryDirectory(prefix="sockleak-san-") as tmp:
            return check(variant, app, tmp)
    return test


for _app in APPS:
    globals()["test_asan_%s" % _app] = make_test("asan", _app)
    if _app != "vfork_child":
        globals()["test_tsan_%s" % _app] = make_test("tsan", _app)
