"""Issue 14, which test leaked it: checkpoints from C (include/sockleak.h) and Python
(python/sockleak), and the pytest plugin (sockleak.pytest)."""

import json
import os
import re
import subprocess
import tempfile

from common import PYTHON, ROOT, SOCKLEAK, TlsPeer, expect, preload_env, run

SRC = os.path.join(ROOT, "tests", "checkpoints")
PYDIR = os.path.join(ROOT, "python")


def build_marks(tmp):
    exe = os.path.join(tmp, "marks")
    p = run(["cc", "-std=gnu11", "-g", "-O0", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "include"),
             "-o", exe, os.path.join(SRC, "marks.c")], timeout=60)
    expect(p.returncode == 0, "marks.c did not build:\n" + p.stderr)
    return exe


def bare_env(**extra):
    env = dict(os.environ, **extra)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    return env


def test_c_program_runs_unchanged_without_the_preload():
    with tempfile.TemporaryDirectory() as tmp:
        p = run([build_marks(tmp)], env=bare_env())
        expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
        expect(p.stdout == "mark=0 n=0 n2=0 n3=0 text=0\n", p.stdout)
        expect(p.stderr == "", p.stderr)


def test_c_check_reports_what_was_made_since_the_mark():
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "r.json")
        p = run([build_marks(tmp)], env=preload_env("json=" + js))
        expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
        # n2, n3: later checks find nothing, for everything was closed by then
        expect(p.stdout == "mark=1 n=2 n2=0 n3=0 text=0\n", p.stdout)
        err = p.stderr
        heads = re.findall(r"^==\d+==(\w+): sockleak: (.*)$", err, re.M)
        expect(len(heads) == 1, "one heading expected (the first check):\n" + err)
        expect(heads[0][0] == "ERROR" and heads[0][1].startswith(
            'checkpoint "first part": 2 transports made since the mark still unfinished in '), err)
        transports = re.findall(r"^Transport #(\d+): (.*)$", err, re.M)
        expect([(int(i), d.split(",")[0]) for i, d in transports] == [(2, "tcp4 socket"), (4, "unix-stream pair")],
               "the leaky socket and the registered pair end, nothing else:\n" + err)
        expect("never-closed (error): still open (fd 5) at the checkpoint" in err, err)
        expect(re.search(r"reader-not-removed \(error\): still registered in the epoll set \(fd 4\) under fd \d+ "
                         r"at the checkpoint", err), err)
        expect(re.search(r"in open_leaky .*marks\.c:\d+", err), "the stack names where it was made:\n" + err)
        expect('SUMMARY: sockleak: checkpoint "first part": 3 errors, 0 warnings in 2 of 5 transports '
               "(never-closed: 2, reader-not-removed: 1)" in err, err)
        expect("second part" not in err and "as text" not in err, err)
        with open(js) as f:
            report = json.load(f)
        cps = report["checkpoints"]
        expect([(c["label"], c["count"]) for c in cps] == [("first part", 2)], cps)
        expect([(t["id"], t["kind"], [f["flag"] for f in t["flags"]]) for t in cps[0]["transports"]] ==
               [(2, "tcp4", ["never-closed"]), (4, "unix-stream", ["never-closed", "reader-not-removed"])],
               cps[0]["transports"])
        expect(report["transports"] == [], "nothing is left at exit: %s" % report["transports"])


def test_c_check_applies_suppressions_and_log_path():
    with tempfile.TemporaryDirectory() as tmp:
        supp = os.path.join(tmp, "supp")
        with open(supp, "w") as f:
            f.write("never-closed:open_leaky\n")
        log = os.path.join(tmp, "text.log")
        p = run([build_marks(tmp)], env=preload_env("suppressions=%s:log_path=%s" % (supp, log)))
        expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
        expect(p.stdout == "mark=1 n=1 n2=0 n3=0 text=0\n", p.stdout)
        expect(p.stderr == "", "the text goes to log_path: %r" % p.stderr)
        text = open(log).read()
        expect(re.findall(r"^Transport #(\d+)", text, re.M) == ["4"], text)
        expect("1 suppressed" in text, text)


def test_c_check_under_sockleak_run():
    """Under `sockleak run` the preload logs events instead of reporting: a check still writes
    its text at once (the run's JSON lists it too: tests/test_ckrun.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_marks(tmp)
        p = run([SOCKLEAK, "run", "--", exe], env=bare_env(), cwd=tmp)
        expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
        expect(p.stdout == "mark=1 n=2 n2=0 n3=0 text=0\n", p.stdout)
        expect(len(re.findall(r'sockleak: checkpoint "first part": 2 transports made since the mark', p.stderr)) == 1,
               p.stderr)
        expect("all finished properly" in p.stderr, p.stderr)


PY_SCRIPT = """
import socket, sys
import sockleak
before = socket.socket()
with sockleak.checkpoint("block") as cp:
    kept = socket.socket()       # line 6
    gone = socket.socket()
    gone.close()
mark = sockleak.mark()
n, text = sockleak.check_text(mark, "empty")
print(sockleak.active(), cp.count, n, repr(text))
kept.close()
before.close()
"""


def test_python_module():
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "script.py")
        with open(script, "w") as f:
            f.write(PY_SCRIPT)
        p = run([PYTHON, script], env=bare_env(PYTHONPATH=PYDIR))
        expect(p.returncode == 0 and p.stdout == "False 0 0 ''\n" and p.stderr == "", (p.stdout, p.stderr))
        p = run([PYTHON, script], env=preload_env(PYTHONPATH=PYDIR))
        expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
        expect(p.stdout == "True 1 0 ''\n", p.stdout)
        expect(re.findall(r'checkpoint "(\w+)": (\d+) transport', p.stderr) == [("block", "1")], p.stderr)
        expect(re.findall(r"^Transport #(\d+)", p.stderr, re.M) == ["2"], p.stderr)
        expect('File "%s", line 6, in <module>' % script in p.stderr, p.stderr)


TESTS = '''
import os, selectors, socket, ssl
import pytest

keep = []


@pytest.fixture
def client_fixture():
    s = socket.socket()
    yield s
    s.close()


@pytest.fixture(scope="module")
def server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s
    s.close()


def test_clean(client_fixture, server):
    c = socket.create_connection(server.getsockname())
    a, _ = server.accept()
    a.close()
    c.close()


def test_leak_plain():
    keep.append(socket.socket())


def test_leak_selector():
    a, b = socket.socketpair()
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ)
    keep.extend([a, b, sel])


def test_leak_tls():
    ctx = ssl.create_default_context(cafile=os.environ["CERT"])
    raw = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(b"hello")
    s.recv(100)
    keep.append(s)


def test_clean_tls():
    ctx = ssl.create_default_context(cafile=os.environ["CERT"])
    with socket.create_connection(("127.0.0.1", int(os.environ["PORT"]))) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"hello")
            s.recv(100)


def test_clean_after(server):
    pass
'''


def run_pytest(tmp, preload, *args):
    with open(os.path.join(tmp, "test_x.py"), "w") as f:
        f.write(TESTS)
    with TlsPeer(tmp, "--close-notify", "reply") as peer:
        extra = dict(PYTHONPATH=PYDIR, CERT=os.path.join(tmp, "cert.pem"), PORT=str(peer.port))
        env = preload_env("exitcode=0", **extra) if preload else bare_env(**extra)
        return run([PYTHON, "-m", "pytest", "-p", "sockleak.pytest", "-p", "no:cacheprovider", "-rA",
                    "test_x.py"] + list(args), env=env, cwd=tmp, timeout=120)


def outcomes(out):
    """{test name: PASSED / ERROR ...} from pytest's -rA summary."""
    res = {}
    for kind, name in re.findall(r"^(PASSED|ERROR|FAILED) test_x\.py::(\w+)", out, re.M):
        res.setdefault(name, []).append(kind)
    return res


def test_pytest_plugin_fails_the_tests_that_leak():
    with tempfile.TemporaryDirectory() as tmp:
        p = run_pytest(tmp, True)
        out = p.stdout
        expect(p.returncode == 1, "pytest exit status %d:\n%s%s" % (p.returncode, out, p.stderr))
        res = outcomes(out)
        expect(res == {"test_clean": ["PASSED"], "test_leak_plain": ["PASSED", "ERROR"],
                       "test_leak_selector": ["PASSED", "ERROR"], "test_leak_tls": ["PASSED", "ERROR"],
                       "test_clean_tls": ["PASSED"], "test_clean_after": ["PASSED"]},
               "exactly the three leaking tests fail: %s\n%s" % (res, out))
        sections = dict(re.findall(r"_+ ERROR at teardown of (\w+) _+\n(.*?)(?=\n_{5,}|\n={5,})", out, re.S))
        expect(set(sections) == {"test_leak_plain", "test_leak_selector", "test_leak_tls"}, out)
        plain = sections["test_leak_plain"]
        expect("left 1 transport unfinished" in plain and "never-closed (error)" in plain, plain)
        expect(re.search(r'File ".*test_x\.py", line 32, in test_leak_plain', plain), plain)
        sel = sections["test_leak_selector"]
        expect("left 2 transports unfinished" in sel and "reader-not-removed (error)" in sel, sel)
        tls = sections["test_leak_tls"]
        expect("left 1 transport unfinished" in tls and "tcp4 client" in tls, tls)
        expect(re.search(r'File ".*test_x\.py", line 44, in test_leak_tls', tls), tls)
        expect("checks are off" not in p.stderr, p.stderr)


def test_pytest_plugin_warn_only():
    with tempfile.TemporaryDirectory() as tmp:
        p = run_pytest(tmp, True, "--sockleak-warn")
        out = p.stdout
        expect(p.returncode == 0, "pytest exit status %d:\n%s%s" % (p.returncode, out, p.stderr))
        expect(set(k for v in outcomes(out).values() for k in v) == {"PASSED"}, out)
        warned = re.findall(r"PytestWarning: sockleak: test_x\.py::(\w+) left", out)
        expect(sorted(warned) == ["test_leak_plain", "test_leak_selector", "test_leak_tls"], out)


def test_pytest_plugin_without_the_preload():
    with tempfile.TemporaryDirectory() as tmp:
        p = run_pytest(tmp, False)
        expect(p.returncode == 0, "pytest exit status %d:\n%s%s" % (p.returncode, p.stdout, p.stderr))
        expect(set(k for v in outcomes(p.stdout).values() for k in v) == {"PASSED"}, p.stdout)
        expect(p.stderr.count("sockleak: not preloaded") == 1 and "the per-test leak checks are off" in p.stderr,
               p.stderr)
        expect("warning" not in p.stdout.lower(), p.stdout)


SERVER = """
import socket, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen()
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
print("ready", [s.fileno() for s in (l, c, a)], flush=True)
sys.stdin.readline()
a.close()
c.close()
print("half", flush=True)
sys.stdin.readline()
l.close()
print("done", flush=True)
"""


def test_live_view_with_sockleak_dump():
    """dump_signal: the server goes on after each view, with the descriptor numbers it has bare."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "server.py")
        with open(script, "w") as f:
            f.write(SERVER)
        bare = subprocess.run([PYTHON, script], env=bare_env(), input="\n\n", capture_output=True, text=True,
                              timeout=60)
        log = os.path.join(tmp, "view.%p.log")
        env = preload_env("dump_signal=SIGUSR2:log_path=" + log)
        proc = subprocess.Popen([PYTHON, script], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()
            d1 = run([SOCKLEAK, "dump", str(proc.pid)], env=bare_env(), timeout=60)
            proc.stdin.write("\n")
            proc.stdin.flush()
            second = proc.stdout.readline()
            d2 = run([SOCKLEAK, "dump", str(proc.pid)], env=bare_env(), timeout=60)
            out, err = proc.communicate("\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        expect(first + second + out == bare.stdout, "the program must see what it sees bare: %r vs %r" %
               (first + second + out, bare.stdout))
        expect(proc.returncode == 0 and err == "", "exit status %d: %s" % (proc.returncode, err))
        expect(d1.returncode == 0, "dump: %d %s" % (d1.returncode, d1.stderr))
        expect(re.search(r"^==%d==sockleak: live view: 3 transports open now in " % proc.pid, d1.stdout, re.M),
               d1.stdout)
        expect([d.split(",")[0] for d in re.findall(r"^Transport #\d+: (.*)$", d1.stdout, re.M)] ==
               ["tcp4 listener", "tcp4 client", "tcp4 accepted"], d1.stdout)
        expect("still open (fd 4) now" in d1.stdout and 'File "%s", line 6, in <module>' % script in d1.stdout,
               d1.stdout)
        expect(d2.returncode == 0 and [d.split(",")[0] for d in re.findall(r"^Transport #\d+: (.*)$", d2.stdout, re.M)]
               == ["tcp4 listener"], d2.stdout)


def test_dump_refuses_a_process_without_dump_signal():
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([PYTHON, "-c", "import sys; sys.stdin.read()"], env=preload_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            d = run([SOCKLEAK, "dump", str(proc.pid)], env=bare_env(), timeout=60)
            out, err = proc.communicate("", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        expect(d.returncode == 1 and "was not started with dump_signal" in d.stderr, (d.returncode, d.stderr))
        expect(proc.returncode == 0, "the process must not be signalled: status %d" % proc.returncode)
