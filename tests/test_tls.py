"""TLS sessions (issue 3): each way of ending a session, in both binding styles, against a local
TLS peer; Python's own ssl module; and a TLS-free program that must not load libssl."""

import json
import os
import tempfile

from common import BUILD, PYTHON, ROOT, TlsPeer, expect, preload_env, run, Failure

CLIENT = os.path.join(BUILD, "testapps", "tls_client")

LATE = ["--close-notify", "late", "--delay", "1"]

# ending -> (peer options, exact flags on the one reported transport or None, exit status)
ENDINGS = {
    "twoway": ([], None, 0),
    "oneway": ([], None, 0),
    "none": ([], {"tls-no-close-notify"}, 0),
    # Issue 11: a two-way shutdown begun and then ended by the program is a one-way close, clean;
    # only teardown (exit-time cleanup, the loop closed under the socket) abandons it.
    "abandoned": (LATE, None, 0),
    "atexit": (LATE, {"closed-at-exit", "tls-shutdown-abandoned"}, 23),
    "leftopen": (LATE, {"never-closed"}, 23),
    "loopclosed": (LATE, {"reader-not-removed", "tls-shutdown-abandoned"}, 23),
    "notfreed": ([], {"tls-not-freed"}, 23),
    "quiet": ([], None, 0),
    "nginx": (["--initiate"], None, 0),
    "curl": ([], None, 0),
}


def run_client(mode, peer_opts, tmp):
    with TlsPeer(tmp, *peer_opts) as peer:
        path = os.path.join(tmp, "%s.json" % mode)
        p = run([CLIENT, mode, str(peer.port)], env=preload_env("json=" + path), timeout=30)
    if p.returncode == 99:
        raise Failure("%s: the client itself failed: %s" % (mode, p.stderr))
    return p, json.load(open(path))


def check_ending(style, ending):
    peer_opts, flags, status = ENDINGS[ending]
    mode = "%s-%s" % (style, ending)
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_client(mode, peer_opts, tmp)
    expect(p.returncode == status, "%s: exit status %d, expected %d\n%s" % (mode, p.returncode, status, p.stderr))
    ts = report["transports"]
    if flags is None:
        expect(ts == [], "%s: nothing should be reported, got %s" % (mode, [[f["flag"] for f in t["flags"]] for t in ts]))
        return
    expect(len(ts) == 1, "%s: one transport expected, got %d\n%s" % (mode, len(ts), p.stderr))
    t = ts[0]
    got = {f["flag"] for f in t["flags"]}
    expect(got == flags, "%s: flags %s, expected %s" % (mode, sorted(got), sorted(flags)))
    expect(t["kind"] == "tcp4" and t["role"] == "client", "%s: reported on %s %s" % (mode, t["kind"], t["role"]))
    tls = t["tls"]
    expect(tls is not None, "%s: no tls object" % mode)
    expect(tls["bound"] == ("traffic" if style == "mem" else "fd"), "%s: bound %r" % (mode, tls["bound"]))
    expect(tls["handshake_completed"], "%s: handshake not seen" % mode)
    functions = [f["function"] for f in t["opened_at"]]
    expect("tl_connect" in functions and "main" in functions, "%s: creation stack %s" % (mode, functions))


def make_test(style, ending):
    return lambda: check_ending(style, ending)


for _style in ("fd", "mem"):
    for _ending in ENDINGS:
        globals()["test_%s_%s" % (_style, _ending)] = make_test(_style, _ending)


def test_abandoned_details():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_client("mem-atexit", ["--close-notify", "late"], tmp)
    tls = report["transports"][0]["tls"]
    expect(tls["close_notify_sent"] and not tls["close_notify_received"], str(tls))
    expect(tls["shutdown_results"] == [0, -1] and tls["two_way_shutdown_begun"] and tls["freed"], str(tls))
    expect("close_notify sent, the peer's never received" in p.stderr, p.stderr)
    expect("TLS shutdown begun (close_notify sent) and abandoned before the peer replied: the session ended "
           "with SSL_free() during exit-time cleanup" in p.stderr, p.stderr)


def test_unbound_session_reported_with_its_stack():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_client("fd-unbound", [], tmp)
    expect(p.returncode == 23, "exit status %d" % p.returncode)
    ts = report["transports"]
    expect(len(ts) == 1, "only the never-freed, never-bound SSL: got %d" % len(ts))
    t = ts[0]
    expect(t["kind"] == "tls" and t["fd"] is None and t["tls"]["bound"] is None, str(t))
    expect({f["flag"] for f in t["flags"]} == {"tls-not-freed"}, str(t["flags"]))
    expect("main" in [f["function"] for f in t["opened_at"]], "SSL_new's stack is its own")


PY_WRAP_UNWRAP = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s = ctx.wrap_socket(raw)
s.sendall(b"hello")
assert s.recv(5) == b"hello"
plain = s.unwrap()
plain.close()
"""

PY_HTTP_CLIENT = r"""
import http.client, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx)
conn.request("GET", "/")
assert conn.getresponse().read() == b"ok"
conn.close()
"""


def run_python(script, peer_opts):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "py.py")
        open(path, "w").write(script)
        with TlsPeer(tmp, *peer_opts) as peer:
            p = run([PYTHON, path, str(peer.port)], env=preload_env("json=%s/r.json" % tmp), timeout=30)
        return p, json.load(open(tmp + "/r.json"))


def test_python_wrap_socket_unwrap_is_clean():
    p, report = run_python(PY_WRAP_UNWRAP, [])
    expect(p.returncode == 0 and report["transports"] == [],
           "status %d, reported %s\n%s" % (p.returncode, report["transports"], p.stderr))
    expect(report["summary"]["transports_seen"] >= 1, "the socket was not seen at all")


def test_python_http_client_closed_without_tls_shutdown():
    # Python loads libssl privately (RTLD_LOCAL): this shows the interposers reach it anyway.
    p, report = run_python(PY_HTTP_CLIENT, ["--http"])
    ts = report["transports"]
    expect(len(ts) == 1, "one transport expected, got %s\n%s" % (ts, p.stderr))
    expect({f["flag"] for f in ts[0]["flags"]} == {"tls-no-close-notify"}, str(ts[0]["flags"]))
    expect(ts[0]["tls"]["bound"] == "fd" and ts[0]["role"] == "client", str(ts[0]["tls"]))
    expect(p.returncode == 0, "a warning must not change the exit status: %d" % p.returncode)


def test_tls_free_program_never_loads_libssl():
    p = run([os.path.join(BUILD, "testapps", "maps_check")], env=preload_env())
    expect(p.returncode == 0, "status %d: %s" % (p.returncode, p.stdout + p.stderr))
    expect("libssl" not in p.stdout and "libcrypto" not in p.stdout, p.stdout)
