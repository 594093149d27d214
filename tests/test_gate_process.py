"""Closes, exec, clone and blind spots (issue 10, items 9, 10, 11, 14): the verdict follows what
the kernel did. Each program (tests/reliability/execl_many.c, process_faults.c) runs bare and
preloaded where the program's own view matters, and the transcripts must be identical; then the
report is checked exactly, live and through `sockleak run`."""

import glob
import json
import os
import tempfile

from common import BUILD, PRELOAD, SOCKLEAK, Failure, expect, run

REL = os.path.join(BUILD, "reliability")
EXECL = os.path.join(REL, "execl_many")


def bare_env(**extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    env.update(extra)
    return env


def sl_env(options="", preload=PRELOAD, **extra):
    env = dict(os.environ, LD_PRELOAD=preload, SOCKLEAK_OPTIONS=options)
    env.update(extra)
    return env


# ---- item 9: the execl family with long argument lists ----

def test_execl_family_passes_every_argument():
    # 5,000 and 100,000 arguments reach the new image whole (argc and a hash of every argument),
    # execle's environment is the slot after the list's NULL, and a list too big for the kernel
    # fails with E2BIG: exactly as bare. A fixed cap of 4,096 cut the lists, and execle then took
    # an argument's slot for envp (EFAULT).
    modes = ["%s-%s" % (f, n) for f in ("execl", "execle", "execlp") for n in ("5k", "100k", "big")]
    for mode in modes:
        bare = run([EXECL, mode], env=bare_env(), timeout=60)
        pre = run([EXECL, mode], env=sl_env(), timeout=60)
        expect(bare.stdout == pre.stdout and bare.returncode == pre.returncode,
               "%s: bare %d %r, preloaded %d %r\n%s" % (mode, bare.returncode, bare.stdout, pre.returncode,
                                                         pre.stdout, pre.stderr[-2000:]))
        if mode.endswith("big"):
            expect(bare.returncode == 1 and "Argument list too long" in bare.stdout, "%s: %r" % (mode, bare.stdout))
        else:
            argc = 5002 if mode.endswith("5k") else 100002
            expect(bare.returncode == 0 and bare.stdout.startswith("argc=%d " % argc), "%s: %r" % (mode, bare.stdout))
            expect(bare.stdout.rstrip().endswith("SL_EXECLE=%s" % ("yes" if mode.startswith("execle") else "-")),
                   "%s: %r" % (mode, bare.stdout))
    return "%d modes, same as bare" % len(modes)
