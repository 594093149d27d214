"""Review of the whole change before it lands: defects found by a second reading, each with the
program that shows it run bare and preloaded."""

import os
import tempfile

from common import PYTHON, expect, preload_env, run

FORK_SIGNAL = r"""
import os, signal
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGUSR2)
    os._exit(7)
_, st = os.waitpid(pid, 0)
if os.WIFSIGNALED(st):
    print("child killed by", os.WTERMSIG(st))
else:
    print("child exited", os.WEXITSTATUS(st))
"""


def test_dump_signal_kills_a_forked_child_as_bare():
    """dump_signal=SIGUSR2: a forked child (no live-view thread) that gets SIGUSR2 dies of it, as
    it does bare; sockleak's handler used to swallow the signal and the child ran on."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "fork_signal.py")
        with open(script, "w") as f:
            f.write(FORK_SIGNAL)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env.pop("SOCKLEAK_OPTIONS", None)
        bare = run([PYTHON, script], env=env)
        expect(bare.returncode == 0 and bare.stdout == "child killed by %d\n" % 12, (bare.returncode, bare.stdout))
        log = os.path.join(tmp, "report.%p.log")
        pre = run([PYTHON, script], env=preload_env("dump_signal=SIGUSR2:log_path=" + log))
        expect(pre.returncode == 0 and pre.stdout == bare.stdout, "bare %r, preloaded %r (exit %d, %s)" %
               (bare.stdout, pre.stdout, pre.returncode, pre.stderr))
        expect(pre.stderr == "", pre.stderr)
