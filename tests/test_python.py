"""Python programs (issue 4): tracebacks of the code that made each transport, closes done by the
interpreter's shutdown, and the aiohttp report end to end, with Debian's python3."""

import glob
import json
import os
import tempfile

from common import PYTHON, ROOT, TlsPeer, expect, preload_env, run

PY = os.path.join(ROOT, "tests", "py")


def run_script(script, args, peer_opts, tmp, interpreter=PYTHON):
    with TlsPeer(tmp, *peer_opts) as peer:
        args = [a.replace("PORT", str(peer.port)) for a in args]
        p = run([interpreter, os.path.join(PY, script)] + args,
                env=preload_env("json=%s/r.json" % tmp), timeout=60)
    return p, json.load(open(tmp + "/r.json"))


def flags(t):
    return {f["flag"] for f in t["flags"]}


def test_aiohttp_client_abandons_its_tls_transport():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_script("aiohttp_client.py", ["https://127.0.0.1:PORT/"],
                               ["--http", "--close-notify", "late", "--delay", "1"], tmp)
    expect(p.returncode == 23, "exit status %d\n%s" % (p.returncode, p.stderr))
    ts = report["transports"]
    expect(len(ts) == 1, "only the client transport may be reported (not asyncio's self-pipe): %s"
           % [(t["kind"], t["role"], sorted(flags(t))) for t in ts])
    t = ts[0]
    expect(t["kind"] == "tcp4" and t["role"] == "client", "%s %s" % (t["kind"], t["role"]))
    expect(flags(t) == {"reader-not-removed", "closed-at-exit", "tls-shutdown-abandoned"},
           "flags %s" % sorted(flags(t)))
    tb = t["python_traceback"]
    files = [(os.path.basename(f["file"]), f["function"]) for f in tb]
    expect(("connector.py", "_create_direct_connection") in files, "aiohttp's connector missing: %s" % files)
    script_frames = [f for f in tb if f["file"].endswith("aiohttp_client.py")]
    expect(script_frames and script_frames[-1]["function"] == "post" and script_frames[-1]["line"] == 13,
           "the script's line (post, line 13) missing: %s" % script_frames)
    expect(tb[-1]["file"].endswith("socket.py"), "innermost frame last, as Python prints it: %s" % tb[-1])
    tls = t["tls"]
    expect(tls["bound"] == "traffic" and tls["close_notify_sent"] and not tls["close_notify_received"]
           and tls["freed"], "tls %s" % tls)
    reader = [f for f in t["flags"] if f["flag"] == "reader-not-removed"][0]
    reg = [os.path.basename(f["file"]) for f in reader.get("registered_python_traceback") or []]
    expect("selectors.py" in reg and "selector_events.py" in reg, "registration traceback: %s" % reg)
    text = p.stderr
    for words in ("the event loop's epoll set", "the transport was not closed before the loop",
                  "closed (fd", "only during the Python interpreter's shutdown",
                  "TLS shutdown begun (close_notify sent) and abandoned before the peer replied",
                  'File "/usr/lib/python3/dist-packages/aiohttp/connector.py"'):
        expect(words in text, "the text report lacks %r" % words)


def test_aiohttp_client_fixed_is_clean():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_script("aiohttp_client.py", ["https://127.0.0.1:PORT/", "fixed"],
                               ["--http", "--close-notify", "late", "--delay", "1"], tmp)
    expect(p.returncode == 0, "exit status %d\n%s" % (p.returncode, p.stderr))
    expect(report["transports"] == [], "nothing may be reported: %s" % report["transports"])
    expect(p.stderr == "", "stderr must stay empty: %r" % p.stderr[-500:])


def test_asyncio_tcp_client_clean():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_script("asyncio_tcp_clean.py", [], [], tmp)
    expect(p.returncode == 0 and report["transports"] == [],
           "status %d, reported %s" % (p.returncode, report["transports"]))
    expect(report["summary"]["transports_seen"] >= 5, "too few transports seen: %s" % report["summary"])


def test_asyncio_tls_streams_wait_closed_clean():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_script("asyncio_tls_streams.py", ["PORT"], [], tmp)
    expect(p.returncode == 0 and report["transports"] == [],
           "status %d, reported %s\n%s" % (p.returncode, [sorted(flags(t)) for t in report["transports"]], p.stderr))


def check_http_client(interpreter, exit_mode, expected_flags, status):
    with tempfile.TemporaryDirectory() as tmp:
        args = ["PORT"] + (["exit"] if exit_mode else [])
        p, report = run_script("http_client_never_closed.py", args, ["--http"], tmp, interpreter)
    ts = report["transports"]
    expect(len(ts) == 1, "%s: one transport expected, got %s\n%s" % (interpreter, len(ts), p.stderr))
    expect(flags(ts[0]) == expected_flags, "%s: flags %s, expected %s" % (interpreter, sorted(flags(ts[0])),
                                                                          sorted(expected_flags)))
    expect(p.returncode == status, "%s: exit status %d" % (interpreter, p.returncode))
    tb = ts[0]["python_traceback"] or []
    expect(any(f["file"].endswith("http_client_never_closed.py") for f in tb),
           "%s: the script's line is not in the traceback: %s" % (interpreter, tb))


def test_http_client_never_closed_normal_exit():
    check_http_client(PYTHON, False, {"tls-no-close-notify", "closed-at-exit"}, 23)


def test_http_client_never_closed_os_exit():
    check_http_client(PYTHON, True, {"never-closed", "tls-not-freed", "tls-no-close-notify"}, 23)


def other_interpreters():
    """CPython builds other than Debian's found on this machine (pyenv, /usr/local), 3.9+."""
    found = []
    for pattern in ("/root/.pyenv/versions/3.*/bin/python3.*[0-9]", "/usr/local/bin/python3.*[0-9]",
                    "/opt/python*/bin/python3"):
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real.startswith("/usr/bin/") or real in found or not os.access(real, os.X_OK):
                continue
            v = run([real, "-c", "import sys, ssl; print(sys.version_info >= (3, 9))"], timeout=30)
            if v.returncode == 0 and v.stdout.strip() == "True":
                found.append(real)
    return found


def test_other_cpython_builds():
    others = other_interpreters()
    for interpreter in others:
        check_http_client(interpreter, False, {"tls-no-close-notify", "closed-at-exit"}, 23)
    return "%d other CPython build(s): %s" % (len(others), ", ".join(others) or "none on this machine")


def test_non_python_process_does_not_look_for_python():
    # A C program has no CPython: no traceback anywhere, and no Python wording.
    with tempfile.TemporaryDirectory() as tmp:
        p = run([os.path.join(ROOT, "build", "testapps", "never_closed")], env=preload_env("json=%s/r.json" % tmp))
        t = json.load(open(tmp + "/r.json"))["transports"][0]
    expect(t["python_traceback"] is None and "Traceback" not in p.stderr, "a C program got a Python traceback")
