"""Follow-ups of issues 10 and 11: Perl's IO::Socket::SSL sessions judged exactly, the JSON
report's TLS facts, and sockleak's own messages that must never harm the program (a broken
stderr pipe, a socket put on fd 2). All on loopback, bounded in time, in temporary folders."""

import os
import subprocess
import tempfile

import common
from common import BUILD, PYTHON, ROOT, TlsPeer, expect, run
import test_runtimes as runtimes
import test_tls as tls_cases

NEVER_CLOSED = os.path.join(BUILD, "testapps", "never_closed")


def flags(t):
    return sorted(f["flag"] for f in t["flags"])


# ---- item 1: Perl's IO::Socket::SSL ----

def test_perl_global_destruction_frees_without_shutdown():
    # IO::Socket::SSL's DESTROY calls close(SSL_no_shutdown => 1): Net::SSLeay::free with no
    # SSL_shutdown (gdb: no SSL_shutdown breakpoint hit in the "leave" run, one in "close").
    # So the session left to global destruction did end without close_notify: the warning is
    # true, and comes with exactly the socket's closed-at-exit.
    with tempfile.TemporaryDirectory() as tmp:
        p, report = runtimes.perl("leave", tmp)
    ts = report["transports"]
    expect(p.returncode == 23 and [flags(t) for t in ts] == [["closed-at-exit", "tls-no-close-notify"]],
           "status %d, flags %s\n%s" % (p.returncode, [flags(t) for t in ts], p.stderr))
    tls = ts[0]["tls"]
    expect(tls["handshake_completed"] and tls["shutdown_calls"] == 0 and tls["freed"]
           and not tls["close_notify_sent"], "tls %s" % tls)
    frames = [f["function"] for f in tls["freed_at"]]
    expect("perl_destruct" in frames, "SSL_free during perl_destruct: %s" % frames)


# ---- item 2: the JSON report's TLS facts ----

def tls_of(mode, peer_opts, want_flags):
    with tempfile.TemporaryDirectory() as tmp:
        p, report = tls_cases.run_client(mode, peer_opts, tmp)
    ts = report["transports"]
    expect(p.returncode == 23 and [flags(t) for t in ts] == [want_flags],
           "%s: status %d, flags %s\n%s" % (mode, p.returncode, [flags(t) for t in ts], p.stderr))
    tls = ts[0]["tls"]
    return {k: tls.get(k) for k in ("one_way_close", "fatal_alert", "freed", "up_refs", "frees")}


def test_json_tls_up_refs_and_frees():
    # SSL_up_ref once, SSL_free once: that free only dropped the extra reference.
    got = tls_of("fd-upreflost", [], ["tls-not-freed"])
    expect(got == {"one_way_close": False, "fatal_alert": False, "freed": False, "up_refs": 1, "frees": 1},
           "fd-upreflost: %s" % got)


def test_json_tls_one_way_close():
    # close_notify sent, the peer's awaited and not waited for; the socket left open.
    got = tls_of("fd-leftopen", tls_cases.LATE, ["never-closed"])
    expect(got == {"one_way_close": True, "fatal_alert": False, "freed": True, "up_refs": 0, "frees": 0},
           "fd-leftopen: %s" % got)


def test_json_tls_fatal_alert():
    # A damaged record: OpenSSL sends a fatal alert; no close_notify is owed after it.
    got = tls_of("mem-corruptopen", [], ["never-closed"])
    expect(got == {"one_way_close": False, "fatal_alert": True, "freed": True, "up_refs": 0, "frees": 0},
           "mem-corruptopen: %s" % got)


# ---- item 3: sockleak's own messages ----

def preloaded(options):
    env = dict(os.environ, LD_PRELOAD=common.PRELOAD, SOCKLEAK_OPTIONS=options)
    return env


def test_message_to_a_broken_stderr_pipe_raises_no_sigpipe():
    """stderr a pipe whose reader is gone; an allocation inside sockleak fails mid-run and
    sockleak says so: the program must exit as it does bare (0), not die of SIGPIPE. From the
    first N that leaves a full report on, exitcode=23 is the only change allowed."""
    def status(env):
        r, w = os.pipe()
        os.close(r)
        try:
            return subprocess.run([NEVER_CLOSED], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=w, timeout=30).returncode
        finally:
            os.close(w)
    bare = dict(os.environ)
    bare.pop("LD_PRELOAD", None)
    expect(status(bare) == 0, "never_closed bare: exit status %d" % status(bare))
    stopped = 0
    for n in range(1, 60):
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "r.json")
            got = status(preloaded("fail_alloc_after=%d:json=%s" % (n, json_path)))
            reported = os.path.exists(json_path)
        if reported:
            expect(got == 23, "n=%d: a full report, exit status %d" % (n, got))
            break
        expect(got == 0, "n=%d: sockleak stopped mid-run; exit status %d, bare 0" % (n, got))
        stopped += 1
    else:
        raise common.Failure("no N up to 60 gave a full report")
    expect(stopped > 0, "no N stopped tracking mid-run")
    return "fail_alloc_after=1..%d: exit status 0 as bare, with stderr a broken pipe" % stopped


FD2_SOCKET = r"""
import os, socket
os.close(2)
a, b = socket.socketpair()
assert a.fileno() == 2, a.fileno()
for i in range(40):
    socket.socket().close()
b.setblocking(False)
try:
    print("fd 2's peer got", b.recv(4096))
except BlockingIOError:
    print("fd 2's peer got nothing")
a.close()
b.close()
"""


def test_message_never_reaches_a_socket_on_fd2():
    """A program closes stderr and its socketpair lands on fd 2; then sockleak runs out of
    memory mid-run. The message must not reach the program's peer: for every N its output is
    the bare run's."""
    bare = dict(os.environ)
    bare.pop("LD_PRELOAD", None)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "fd2.py")
        with open(script, "w") as f:
            f.write(FD2_SOCKET)
        want = run([PYTHON, script], env=bare, timeout=30)
        expect(want.returncode == 0 and want.stdout == "fd 2's peer got nothing\n", "bare: %r" % want.stdout)
        for n in range(2, 120, 3):
            p = run([PYTHON, script], env=preloaded("fail_alloc_after=%d" % n), timeout=30)
            expect((p.returncode, p.stdout) == (want.returncode, want.stdout),
                   "n=%d: status %d, output %r" % (n, p.returncode, p.stdout))


def test_message_is_one_line_whatever_it_holds():
    # A report path with a newline in it: the message naming it stays one "sockleak: " line.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "no\nsuch", "r.json")
        p = run([NEVER_CLOSED], env=preloaded("json=" + path), timeout=30)
    lines = [l for l in p.stderr.splitlines() if "r.json" in l or "such" in l]
    expect(p.returncode == 23 and len(lines) == 1 and lines[0].startswith("sockleak: cannot write the JSON report to ")
           and "/no?such/r.json: " in lines[0], "status %d, lines %s" % (p.returncode, lines))
