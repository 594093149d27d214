"""TLS verdicts from OpenSSL's own state, SSL_up_ref, one-way closes (issue 11 items 1-3).

Each case has its exact report: which transports, which flags, the exit status, and what must not
be reported. The C cases run testapps/tls_client.c against tests/tls_peer.py; the real programs
are Debian's lighttpd (stopped with SIGTERM), openssl s_client, trio and CPython's ssl module, all
on loopback and bounded in time."""

import glob
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import common
from common import PYTHON, SOCKLEAK, TlsPeer, expect, make_cert, preload_env, run, Failure
import eventlog as E
import test_tls as tls_cases

LATE = tls_cases.LATE
SSL_SEEN, SSL_FREE = 42, 33  # core/event.h


def flags(t):
    return {f["flag"] for f in t["flags"]}


def check_client(mode, peer_opts, want, status, handshake=True):
    """tls_client MODE: exactly one transport with flags want (None: nothing reported)."""
    with tempfile.TemporaryDirectory() as tmp:
        p, report = tls_cases.run_client(mode, peer_opts, tmp)
    expect(p.returncode == status, "%s: exit status %d, expected %d\n%s" % (mode, p.returncode, status, p.stderr))
    ts = report["transports"]
    if want is None:
        expect(ts == [], "%s: nothing should be reported, got %s" % (mode, [sorted(flags(t)) for t in ts]))
        return p, None
    expect(len(ts) == 1, "%s: one transport expected, got %s\n%s" % (mode, [sorted(flags(t)) for t in ts], p.stderr))
    t = ts[0]
    expect(flags(t) == want, "%s: flags %s, expected %s" % (mode, sorted(flags(t)), sorted(want)))
    expect(t["kind"] == "tcp4" and t["role"] == "client", "%s: reported on %s %s" % (mode, t["kind"], t["role"]))
    expect(t["tls"]["handshake_completed"] == handshake, "%s: handshake_completed %r" % (mode, t["tls"]))
    return p, t


# ---- item 1: the handshake done by SSL_read / SSL_write, seen in OpenSSL's state ----

def test_implicit_handshake_fd():
    # No SSL_connect: SSL_write does the handshake. Freed without SSL_shutdown: the warning that
    # was missed while sockleak believed the handshake never completed.
    check_client("fd-implicit", [], {"tls-no-close-notify"}, 0)


def test_implicit_handshake_mem():
    check_client("mem-implicit", [], {"tls-no-close-notify"}, 0)


def test_implicit_handshake_never_freed_judged_at_exit():
    # lighttpd's pattern: the live session's state is read at exit.
    p, t = check_client("fd-implicitleak", [], {"tls-not-freed", "tls-no-close-notify"}, 23)
    expect("TLS (client): handshake completed; no close_notify sent; never freed" in p.stderr, p.stderr)


def test_fatal_alert_is_not_a_missing_close_notify():
    # A damaged record: SSL_read fails and OpenSSL sends a fatal alert, after which no
    # close_notify can be sent (CPython's test_start_tls_client_corrupted_ssl).
    check_client("mem-corrupt", [], None, 0)


def test_fatal_alert_learned_after_the_socket_closed():
    # asyncio's order (test_start_tls_client_corrupted_ssl, still flagged after issue 11 item 1):
    # the transport closes its socket first, which ends the session before OpenSSL's state is
    # read; the fatal alert is learned at SSL_free, and takes back the missing close_notify.
    check_client("mem-corruptclosefirst", [], None, 0)


# ---- item 2: SSL_up_ref ----

def test_up_ref_session_ends_at_last_free():
    # SSL_free of the extra reference before the shutdown is not the session's end.
    check_client("fd-upref", [], None, 0)
    check_client("mem-upref", [], None, 0)


def test_up_ref_dropped_before_binding_keeps_the_session_bindable():
    # A memory-BIO session is bound by its traffic; SSL_free of an extra reference before that
    # must not stop it from being bound, so the warning lands on its socket.
    for style in ("fd", "mem"):
        p, t = check_client("%s-uprefearly" % style, [], {"tls-no-close-notify"}, 0)
        expect(t["tls"]["bound"] == ("traffic" if style == "mem" else "fd"), str(t["tls"]))


def test_up_ref_leaked_reference_is_not_freed():
    p, t = check_client("fd-upreflost", [], {"tls-not-freed"}, 23)
    expect("SSL_up_ref was called 1 time and SSL_free 1 time, so its last reference was never released"
           in p.stderr, p.stderr)
    expect("SSL_free called 1 time, 1 reference left (SSL_up_ref)" in p.stderr, p.stderr)
    expect(not t["tls"]["freed"], str(t["tls"]))


# ---- item 3: one-way closes ----

def test_one_way_close_named_on_the_tls_line():
    # The session's own end is clean; the socket left open is what is reported.
    p, t = check_client("fd-leftopen", LATE, {"never-closed"}, 23)
    expect("one-way shutdown: close_notify sent, the peer's not awaited" in p.stderr, p.stderr)
    expect(t["tls"]["shutdown_results"] == [0, -1] and t["tls"]["two_way_shutdown_begun"], str(t["tls"]))


def test_abandoned_when_the_loop_is_closed_under_it():
    p, t = check_client("mem-loopclosed", LATE, {"reader-not-removed", "tls-shutdown-abandoned"}, 23)
    expect("the session ended with SSL_free(), and its socket's event loop was closed under it" in p.stderr,
           p.stderr)


TRIO_ACLOSE = r"""
import ssl, sys, trio
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = await trio.open_tcp_stream("127.0.0.1", int(sys.argv[1]))
    s = trio.SSLStream(raw, ctx, server_hostname="localhost")
    await s.send_all(b"hello")
    assert await s.receive_some(5) == b"hello"
    await s.aclose()   # sends close_notify, does not wait for the peer's
trio.run(main)
print("done")
"""

PY_UNWRAP_NONBLOCKING = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"hello")
assert s.recv(5) == b"hello"
s.setblocking(False)
try:
    s.unwrap()   # CPython calls SSL_shutdown a second time itself: -1, wanting to read
    raise SystemExit("unwrap() completed: the peer was expected to answer late")
except ssl.SSLWantReadError:
    pass
s.close()
print("done")
"""


def run_python_against_late_peer(script):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "prog.py")
        with open(path, "w") as f:
            f.write(script)
        with TlsPeer(tmp, *LATE) as peer:
            p = run([PYTHON, path, str(peer.port)], env=preload_env("json=%s/r.json" % tmp), timeout=60)
        expect(p.stdout == "done\n", "the program failed: %r\n%s" % (p.stdout, p.stderr[-2000:]))
        with open(tmp + "/r.json") as f:
            return p, json.load(f)


def test_trio_aclose_is_a_one_way_close():
    p, report = run_python_against_late_peer(TRIO_ACLOSE)
    # trio leaves its wake-up socketpairs registered when its epoll set closes (reader-not-removed,
    # not a TLS matter); the TLS connection itself must not be reported at all.
    got = [(t["kind"], t["role"], sorted(flags(t))) for t in report["transports"]]
    expect(all(g == ("unix-stream", "pair", ["reader-not-removed"]) for g in got), "reported %s" % got)
    expect(report["summary"]["transports_seen"] >= 3, "the TCP socket was not seen at all")


def test_python_unwrap_nonblocking_is_a_one_way_close():
    p, report = run_python_against_late_peer(PY_UNWRAP_NONBLOCKING)
    expect(p.returncode == 0 and report["transports"] == [],
           "status %d, reported %s\n%s" % (p.returncode, report["transports"], p.stderr[-2000:]))
    expect(report["summary"]["transports_seen"] >= 1, "the socket was not seen at all")


# ---- real programs whose handshake is implicit ----

LIGHTTPD_CONF = """server.document-root = "%(root)s"
server.bind = "127.0.0.1"
server.port = %(port)d
server.modules += ("mod_openssl")
ssl.engine = "enable"
ssl.pemfile = "%(pem)s"
server.errorlog = "%(root)s/error.log"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lighttpd_stopped_with_sigterm():
    # lighttpd calls SSL_set_accept_state and lets SSL_read do the handshake. Stopped with a
    # keep-alive connection open, its session's state is read at exit: the handshake completed
    # and no close_notify was sent.
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        pem = os.path.join(tmp, "both.pem")
        with open(pem, "w") as out:
            out.write(open(cert).read() + open(key).read())
        with open(os.path.join(tmp, "index.html"), "w") as out:
            out.write("ok\n")
        port = free_port()
        conf = os.path.join(tmp, "lighttpd.conf")
        with open(conf, "w") as out:
            out.write(LIGHTTPD_CONF % {"root": tmp, "port": port, "pem": pem})
        server = subprocess.Popen(["/usr/sbin/lighttpd", "-D", "-f", conf], env=preload_env("json=%s/r.json" % tmp),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conn = None
        try:
            deadline = time.monotonic() + 20
            while conn is None:
                try:
                    conn = socket.create_connection(("127.0.0.1", port), timeout=20)
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise Failure("lighttpd did not start: %s" % server.stderr.read()[-2000:]
                                      if server.poll() is not None else "lighttpd did not start")
                    time.sleep(0.05)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = ctx.wrap_socket(conn)
            conn.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            while b"\r\n\r\nok\n" not in data:
                more = conn.recv(4096)
                if not more:
                    raise Failure("lighttpd closed the connection: %r" % data)
                data += more
            server.send_signal(signal.SIGTERM)
            out, err = server.communicate(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate()
            if conn is not None:
                conn.close()
        with open(os.path.join(tmp, "r.json")) as f:
            report = json.load(f)
    ts = report["transports"]
    expect(len(ts) == 1, "one transport expected, got %s\n%s" % ([(t["kind"], t["role"], sorted(flags(t))) for t in ts], err))
    t = ts[0]
    expect((t["kind"], t["role"]) == ("tcp4", "accepted"), "reported on %s %s" % (t["kind"], t["role"]))
    expect(flags(t) == {"never-closed", "reader-not-removed", "tls-not-freed", "tls-no-close-notify"},
           "flags %s" % sorted(flags(t)))
    expect(t["tls"]["handshake_completed"] and t["tls"]["role"] == "server" and t["tls"]["bound"] == "fd", str(t["tls"]))
    expect(server.returncode == 23, "exit status %d" % server.returncode)


def test_openssl_s_client_state_read_before_free():
    # s_client never calls SSL_connect: SSL_read and SSL_write do the handshake. Its ending is
    # clean (one SSL_shutdown, then SSL_free); the log shows the state OpenSSL gave before the
    # free, which the verdict used: handshake finished, close_notify sent.
    with tempfile.TemporaryDirectory() as tmp:
        keep = os.path.join(tmp, "run")
        with TlsPeer(tmp) as peer:
            try:
                p = subprocess.run([SOCKLEAK, "run", "--keep", keep, "--", "openssl", "s_client", "-connect",
                                    "127.0.0.1:%d" % peer.port], input="hello\n", stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                raise Failure("openssl s_client timed out")
        expect(p.returncode == 0, "status %d\n%s" % (p.returncode, p.stderr[-2000:]))
        expect("sockleak: 1 process, 1 transport, all finished properly" in p.stderr,
               "nothing may be reported: " + p.stderr[-2000:])
        seen = []
        for path in glob.glob(os.path.join(keep, "*")):
            with open(path, "rb") as f:
                data = f.read()
            if not data.startswith(E.MAGIC):
                continue
            evs = [E.event_fields(r[3]) for r in E.records(data) if r[2] == E.EVENT]
            for i, ev in enumerate(evs):
                if ev[0] == SSL_FREE:
                    before = [e for e in evs[:i] if e[0] == SSL_SEEN and e[8] == ev[8]]
                    seen.append((before[-1][6], before[-1][7]) if before else None)
    expect(seen == [(1, 1)], "SSL_SEEN (init finished, shutdown bits) before each SSL_free: %s" % seen)
