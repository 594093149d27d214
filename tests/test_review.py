"""Review of the whole change before it lands: defects found by a second reading, each with the
program that shows it run bare and preloaded."""

import os
import tempfile

from common import PYTHON, expect, preload_env, run

def bare_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    return env


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
        bare = run([PYTHON, script], env=bare_env())
        expect(bare.returncode == 0 and bare.stdout == "child killed by %d\n" % 12, (bare.returncode, bare.stdout))
        log = os.path.join(tmp, "report.%p.log")
        pre = run([PYTHON, script], env=preload_env("dump_signal=SIGUSR2:log_path=" + log))
        expect(pre.returncode == 0 and pre.stdout == bare.stdout, "bare %r, preloaded %r (exit %d, %s)" %
               (bare.stdout, pre.stdout, pre.returncode, pre.stderr))
        expect(pre.stderr == "", pre.stderr)


DL_ERRNO = r"""
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	errno = 1234;
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	printf("dlopen errno %d\n", errno);
	errno = 4321;
	int r = dlclose(h);
	printf("dlclose %d errno %d\n", r, errno);
	return 0;
}
"""


def test_dlopen_and_dlclose_keep_errno():
    """A dlopen or dlclose that succeeds leaves errno as the program set it, with and without the
    event log: the dlclose hook's module listing (realpath of each name) left ENOENT, and the
    event log's module rescan after dlopen left EINVAL."""
    with tempfile.TemporaryDirectory() as tmp:
        src, lib_src = os.path.join(tmp, "dl.c"), os.path.join(tmp, "plugin.c")
        exe, lib = os.path.join(tmp, "dl"), os.path.join(tmp, "plugin.so")
        with open(src, "w") as f:
            f.write(DL_ERRNO)
        with open(lib_src, "w") as f:
            f.write("int plugin_value(void) { return 42; }\n")
        for cmd in (["cc", "-shared", "-fPIC", "-o", lib, lib_src], ["cc", "-o", exe, src, "-ldl"]):
            p = run(cmd, timeout=60)
            expect(p.returncode == 0, "build failed:\n" + p.stderr)
        bare = run([exe, lib], env=bare_env())
        expect(bare.returncode == 0 and bare.stdout == "dlopen errno 1234\ndlclose 0 errno 4321\n",
               (bare.returncode, bare.stdout))
        run_dir = os.path.join(tmp, "run")
        os.mkdir(run_dir)
        for options in ("log_path=" + os.path.join(tmp, "report.%p.log"), "run_dir=" + run_dir):
            pre = run([exe, lib], env=preload_env(options))
            expect(pre.returncode == 0 and pre.stdout == bare.stdout, "%s: bare %r, preloaded %r (exit %d, %s)" %
                   (options, bare.stdout, pre.stdout, pre.returncode, pre.stderr))
        expect(len(os.listdir(run_dir)) == 1, os.listdir(run_dir))
