"""Issue 15: track=sockets|pipes|all. Pipes as asyncio uses them, files leaked from Python,
suppressions and every output format for the new kinds, sockleak's own files never reported,
the program's results unchanged, and parity with valgrind --track-fds=yes: every descriptor
valgrind lists as open at exit (beyond 0 to 2 and inherited ones) is reported by track=all as
never-closed, with its creation stack, and nothing else is. All in temporary folders."""

import json
import os
import re
import struct
import subprocess
import tempfile

from common import BUILD, PYTHON, SOCKLEAK, Failure, expect, preload_env, run

APPS = os.path.join(BUILD, "testapps")


def flags(t):
    return sorted(f["flag"] for f in t["flags"])


def preloaded(cmd, tmp, options, timeout=60):
    """Runs cmd with the preload, its JSON report in tmp; returns (process, report of cmd's own
    process). Only the process started here is read: valgrind follows no exec either."""
    env = preload_env(options + ":json=%s/r.%%p.json" % tmp)
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=tmp)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise Failure("%s timed out after %d s" % (cmd, timeout))
    p.stderr_text = err
    path = os.path.join(tmp, "r.%d.json" % p.pid)
    expect(os.path.exists(path), "%s: no JSON report (status %d)\n%s" % (cmd, p.returncode, err))
    with open(path) as f:
        return p, json.load(f)


# ---- pipes as transports: asyncio ----

ASYNCIO_SUBPROCESS = """
import asyncio
procs = []  # held to the end: no garbage collection closes the transport while the loop runs
async def main():
    proc = await asyncio.create_subprocess_exec("cat", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    procs.append(proc)
    %s
asyncio.run(main())
"""


def test_asyncio_subprocess_pipe_left_registered_is_reader_not_removed():
    # The subprocess transport is never closed: asyncio.run closes the loop's epoll set with both
    # of the child's pipes still registered for reading (the read end of its stdout, and the
    # write end of its stdin, which asyncio watches for the reader going away). cat lives until
    # this process exits and closes its stdin: no end of file can close a pipe meanwhile. Under
    # track=pipes each pipe is a transport like a socket, with the same flags; under the default
    # they are not followed; communicate() closes both.
    with tempfile.TemporaryDirectory() as tmp:
        p, r = preloaded([PYTHON, "-c", ASYNCIO_SUBPROCESS % "pass"], tmp, "track=pipes")
        got = [(t["kind"], flags(t), t["python_traceback"][-1]["function"]) for t in r["transports"]]
        want = [("pipe", ["never-closed", "reader-not-removed"], "_get_handles")] * 2
        expect(p.returncode == 23 and got == want, "status %d: %s\n%s" % (p.returncode, got, p.stderr_text))
        tb = [fr["function"] for fr in r["transports"][0]["python_traceback"]]
        expect("main" in tb, "made in subprocess.Popen from main(): %s" % tb)
        rnr = [f for f in r["transports"][0]["flags"] if f["flag"] == "reader-not-removed"][0]
        expect("this descriptor was still registered" in rnr["detail"], rnr["detail"])
        p, r = preloaded([PYTHON, "-c", ASYNCIO_SUBPROCESS % "pass"], tmp, "")
        expect(p.returncode == 0 and r["transports"] == [], "default: nothing\n%s" % p.stderr_text)
        p, r = preloaded([PYTHON, "-c", ASYNCIO_SUBPROCESS % "await proc.communicate(b'')"], tmp, "track=pipes")
        expect(p.returncode == 0 and r["transports"] == [], "communicate() closes the pipes: %s\n%s" % (
            [(t["kind"], flags(t)) for t in r["transports"]], p.stderr_text))
    return "reader-not-removed on both pipes; clean with communicate(); nothing by default"


# ---- files from Python ----

def test_python_files_left_open_and_left_to_the_collector():
    # open() left to the interpreter's shutdown is closed-at-exit; os.open() never closed is
    # never-closed; a with-block is clean. Each with its Python traceback and path.
    code = ("import os\nf = open('/etc/hostname')\nfd = os.open('/etc/passwd', os.O_RDONLY)\n"
            "with open('/etc/hostname') as g:\n    g.read()\n")
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "leak.py")
        with open(script, "w") as f:
            f.write(code)
        p, r = preloaded([PYTHON, script], tmp, "track=all")
    got = [(t["kind"], t["local"], flags(t), t["python_traceback"][-1]["line"]) for t in r["transports"]]
    expect(p.returncode == 23 and got == [("file", "/etc/hostname", ["closed-at-exit"], 2),
                                          ("file", "/etc/passwd", ["never-closed"], 3)],
           "status %d: %s\n%s" % (p.returncode, got, p.stderr_text))
    return "closed-at-exit and never-closed, each at its line"


# ---- suppressions and outputs ----

def test_suppressions_and_every_output_show_kind_and_path():
    app = os.path.join(APPS, "track_files")
    with tempfile.TemporaryDirectory() as tmp:
        supp = os.path.join(tmp, "supp")
        with open(supp, "w") as f:
            f.write("never-closed:leak_opendir\n")
        out = {k: os.path.join(tmp, "r." + k) for k in ("json", "sarif", "junit")}
        p = run([SOCKLEAK, "--track", "all", "--suppressions", supp, "--json", out["json"], "--sarif",
                 out["sarif"], "--junit", out["junit"], app], timeout=60, cwd=tmp)
        with open(out["json"]) as f:
            report = json.load(f)
        sarif = open(out["sarif"]).read()
        junit = open(out["junit"]).read()
        # The preload's own report, with the same suppressions.
        q, own = preloaded([app], tmp, "track=all:suppressions=%s" % supp)
    got = sorted((t["kind"], t["local"], t["family"], t["role"]) for t in report["transports"])
    expect(p.returncode == 23 and len(got) == 5 and ("file", "/", "descriptor", None) not in got and
           ("file", "/etc/passwd", "descriptor", None) in got,
           "status %d: %s\n%s" % (p.returncode, got, p.stderr))
    expect("Suppressions used" in p.stdout + p.stderr and "never-closed:leak_opendir" in p.stdout + p.stderr,
           "suppressions listed:\n%s%s" % (p.stdout, p.stderr))
    expect("file, fd 4, /etc/passwd" in p.stdout + p.stderr, "text names kind, fd and path:\n%s" % p.stdout)
    expect("file fd 4, /etc/passwd" in sarif and "file fd 4, /etc/passwd" in junit,
           "SARIF and JUnit name kind and path")
    own_got = sorted(t["local"] for t in own["transports"])
    expect(q.returncode == 23 and len(own_got) == 5 and "/" not in own_got,
           "preload with suppressions: %s" % own_got)
    return "5 of 6 after one suppression, in text, JSON, SARIF and JUnit"


def test_track_option_is_checked():
    p = run([os.path.join(APPS, "track_default_ignores")], env=preload_env("track=files"))
    expect(p.returncode == 1 and "option 'track' takes sockets, pipes or all, not 'files'" in p.stderr,
           "status %d: %s" % (p.returncode, p.stderr))
    p = run([SOCKLEAK, "--track", "files", "true"])
    expect(p.returncode == 125 and "--track takes sockets, pipes, all, not 'files'" in p.stderr,
           "wrapper: status %d: %s" % (p.returncode, p.stderr))
    return "preload 1, wrapper 125"


# ---- sockleak's own files, and the program's view ----

def test_sockleaks_own_files_are_never_reported():
    # The event log, the JSON report, the text log, the suppressions file, /proc files read at
    # start and exit, libunwind and libdw loading: none is the program's. A program that opens
    # nothing reports nothing, under the preload alone and under sockleak run, in a process tree.
    with tempfile.TemporaryDirectory() as tmp:
        supp = os.path.join(tmp, "supp")
        with open(supp, "w") as f:
            f.write("never-closed:nothing_here\n")
        opts = "track=all:suppressions=%s:log_path=%s/log.%%p:verbosity=1" % (supp, tmp)
        p, r = preloaded([os.path.join(APPS, "clean_client_server")], tmp, opts)
        expect(p.returncode == 0 and r["transports"] == [], "preload: %s" % r["transports"])
        q = run([SOCKLEAK, "--track", "all", "-v", "sh", "-c", "true | cat; /bin/true"], cwd=tmp)
        expect(q.returncode == 0 and "0 transports" in q.stderr + q.stdout or "all finished properly" in q.stderr,
               "run: status %d\n%s%s" % (q.returncode, q.stdout, q.stderr))
    return "nothing reported"


# The program's own view: what each call returns, errno, the numbers it gets, bare and under
# track=all (a failed open, a fopen of a missing file, a pipe, a closedir of a closed dir's fd).
VIEW = r"""
import errno, os, sys
out = []
def note(what, f):
    try:
        out.append("%s=%r" % (what, f()))
    except OSError as e:
        out.append("%s:%s" % (what, errno.errorcode[e.errno]))
note("open-missing", lambda: os.open("/nonexistent/x", os.O_RDONLY))
note("open", lambda: os.open("/etc/hostname", os.O_RDONLY))
note("pipe", os.pipe)
note("eventfd", lambda: os.eventfd(0))
note("memfd", lambda: os.memfd_create("x"))
note("fopen-missing", lambda: open("/nonexistent/y"))
note("dup", lambda: os.dup(3))
note("close-twice", lambda: (os.close(4), os.close(4)))
note("listdir", lambda: len(os.listdir("/")) > 0)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
note("closedir-null", lambda: (libc.closedir(None), ctypes.get_errno()))
note("fopen-c-missing", lambda: (libc.fopen(b"/nonexistent/z", b"r"), ctypes.get_errno()))
print(" ".join(out))
"""


def test_program_sees_the_same_results_and_numbers():
    with tempfile.TemporaryDirectory() as tmp:
        bare = run([PYTHON, "-c", VIEW], cwd=tmp, env=dict(os.environ, LD_PRELOAD=""))
        hooked = run([PYTHON, "-c", VIEW], cwd=tmp, env=preload_env("track=all:report=0:exitcode=0"))
    expect(bare.returncode == 0 and bare.stdout == hooked.stdout and hooked.returncode == 0,
           "bare %r\nhooked %r %s" % (bare.stdout, hooked.stdout, hooked.stderr))
    return bare.stdout.strip()[:60] + "..."


# ---- segments and forks keep the new kinds ----

def test_log_segments_keep_paths_and_epoll_sets():
    # With tiny segments, every open transport and epoll set is written again at the start of
    # each segment: the paths and the epoll set reported with its stack must survive that.
    code = ("import select\nf = open('/etc/hostname')\nep = select.epoll()\n"
            "import json, email, http.client, asyncio\n"
            "for i in range(200):\n    open('/etc/passwd').close()\n"
            "import os\nos._exit(0)\n")
    with tempfile.TemporaryDirectory() as tmp:
        keep, out = os.path.join(tmp, "keep"), os.path.join(tmp, "r.json")
        env = dict(os.environ, SOCKLEAK_OPTIONS="log_segment_kib=1")
        p = run([SOCKLEAK, "-q", "--track", "all", "--keep", keep, "--json", out, PYTHON, "-c", code],
                env=env, cwd=tmp)
        # The header's segment number (docs/event-log.md): above 0 in a later segment.
        segments = [n for n in os.listdir(keep) if n.endswith(".log") and
                    struct.unpack_from("<I", open(os.path.join(keep, n), "rb").read(24), 20)[0] > 0]
        with open(out) as f:
            report = json.load(f)
    got = sorted((t["kind"], t["local"], flags(t), t["python_traceback"][-1]["line"]) for t in report["transports"])
    expect(segments, "the log rolled over to later segments")
    expect(p.returncode == 23 and got == [("epoll", None, ["never-closed"], 3),
                                          ("file", "/etc/hostname", ["never-closed"], 2)],
           "status %d: %s\n%s" % (p.returncode, got, p.stderr))
    return "a later segment; the file and the epoll set reported"


# ---- parity with valgrind --track-fds=yes ----

VG_LOG_FD = 200
VG_OPEN = re.compile(r"^==(\d+)== Open (?:file descriptor|AF_\w+ socket) (\d+):")


def valgrind_open_fds(cmd, tmp, timeout=180):
    """The descriptors valgrind --track-fds=yes lists as open at exit in cmd's own process,
    beyond 0 to 2 and those inherited from the parent."""
    # The log goes to a descriptor far above the program's (--log-file would take fd 3 in the
    # program's process, and shift every number it opens by one).
    log = os.path.join(tmp, "vg.log")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, VG_LOG_FD)
    os.close(fd)
    try:
        p = run(["valgrind", "--track-fds=yes", "-q", "--log-fd=%d" % VG_LOG_FD] + cmd, timeout=timeout,
                cwd=tmp, pass_fds=(VG_LOG_FD,))
    finally:
        os.close(VG_LOG_FD)
    lines = open(log).read().splitlines()
    os.unlink(log)
    fds = set()
    for i, line in enumerate(lines):
        m = VG_OPEN.match(line)
        if not m:
            continue
        inherited = i + 1 < len(lines) and "<inherited from parent>" in lines[i + 1]
        if int(m.group(2)) > 2 and not inherited:
            fds.add(int(m.group(2)))
    return p, fds


PARITY = [
    ("track_files", [os.path.join(APPS, "track_files")]),
    ("track_kinds", [os.path.join(APPS, "track_kinds"), "no-pidfd"]),
    ("track_pipes", [os.path.join(APPS, "track_pipes")]),
    ("track_received", [os.path.join(APPS, "track_received")]),
    ("socketpair_leak", [os.path.join(APPS, "socketpair_leak")]),
    ("never_closed", [os.path.join(APPS, "never_closed")]),
    ("python3 os.open", [PYTHON, "-S", "-c", "import os; os.open('/etc/hostname', os.O_RDONLY); os.pipe()"]),
    ("sh exec 3<", ["sh", "-c", "exec 3</etc/hostname 4>/dev/null; true"]),
    ("perl POSIX::open", ["perl", "-MPOSIX", "-e", "POSIX::open('/etc/hostname', 0); pipe(R, W)"]),
    ("ls", ["ls", "/"]),
    ("sh pipeline", ["sh", "-c", "echo hi | cat | wc -c"]),
    # Ruby's timer thread keeps two eventfds open to the end: a real program's leak of that kind.
    ("ruby", ["ruby", "-e", "1"]),
]


def test_parity_with_valgrind_track_fds():
    results = []
    for name, cmd in PARITY:
        with tempfile.TemporaryDirectory() as tmp:
            vp, vfds = valgrind_open_fds(cmd, tmp)
            p, r = preloaded(cmd, tmp, "track=all")
        ours = {}
        for t in r["transports"]:
            if "never-closed" in flags(t):
                ours[t["fd"]] = t
        expect(set(ours) == vfds, "%s: valgrind lists %s, sockleak reports never-closed %s\n%s" % (
            name, sorted(vfds), sorted(ours), p.stderr_text))
        for fd, t in ours.items():
            expect(t["opened_at"] or t["python_traceback"], "%s: fd %d without a creation stack" % (name, fd))
        expect(vp.returncode == p.returncode or p.returncode == 23,
               "%s: status bare-under-valgrind %d, preloaded %d" % (name, vp.returncode, p.returncode))
        results.append("%s %s" % (name, sorted(vfds)))
    return "; ".join(results)


def test_python_kinds_made_through_syscall_and_libc():
    # CPython's os.pidfd_open is a syscall() call; memfd_create, eventfd and pipe go through
    # their libc functions. Each left open is reported with its kind and its line; each closed
    # is not.
    code = ("import os\n"
            "a = os.pidfd_open(os.getpid())\n"
            "b = os.memfd_create('py-test')\n"
            "c = os.eventfd(0)\n"
            "r, w = os.pipe()\n"
            "os.close(w)\n"
            "for fd in (os.pidfd_open(os.getpid()), os.memfd_create('x'), os.eventfd(0)):\n"
            "    os.close(fd)\n")
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "kinds.py")
        with open(script, "w") as f:
            f.write(code)
        p, r = preloaded([PYTHON, "-S", script], tmp, "track=all")
    got = [(t["kind"], t["local"], flags(t), t["python_traceback"][-1]["line"]) for t in r["transports"]]
    expect(p.returncode == 23 and got == [("pidfd", None, ["never-closed"], 2),
                                          ("memfd", "memfd:py-test", ["never-closed"], 3),
                                          ("eventfd", None, ["never-closed"], 4),
                                          ("pipe", None, ["never-closed"], 5)],
           "status %d: %s\n%s" % (p.returncode, got, p.stderr_text))
    return "pidfd (syscall), memfd, eventfd, pipe"
