"""Python programs (issue 4): tracebacks of the code that made each transport, closes done by the
interpreter's shutdown, and the aiohttp report end to end, with Debian's python3."""

import glob
import json
import os
import tempfile

from common import PYTHON, ROOT, SOCKLEAK, TlsPeer, expect, preload_env, run

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


# ---- issue 12: the cache of names and lines (preload/python.c) ----

def traceback_cache(scenario, tmp, interpreter=PYTHON, under_run=False, options=""):
    """Runs tests/py/traceback_cache.py SCENARIO under the preload (or `sockleak run`) and
    compares, socket by socket, the traceback sockleak reports with the one Python computed on the
    line that made the socket. Returns the script's standard output."""
    want_base = os.path.join(tmp, "want")
    cmd = [interpreter, os.path.join(PY, "traceback_cache.py"), scenario, want_base]
    if under_run:
        env = dict(os.environ)
        env.pop("SOCKLEAK_OPTIONS", None)
        if options:
            env["SOCKLEAK_OPTIONS"] = options
        p = run([SOCKLEAK, "run", "--json", tmp + "/run.json", "--"] + cmd, env=env, timeout=120)
        reported = json.load(open(tmp + "/run.json"))["transports"]
    else:
        p = run(cmd, env=preload_env("json=%s/r.%%p.json:%s" % (tmp, options)), timeout=120)
        reported = []
        for path in glob.glob(tmp + "/r.*.json"):
            reported += json.load(open(path))["transports"]
    what = "%s %s%s" % (os.path.basename(interpreter), scenario, " under sockleak run" if under_run else "")
    expect(p.returncode == 23, "%s: exit status %d\n%s" % (what, p.returncode, p.stderr[-3000:]))
    wanted = []
    for path in glob.glob(want_base + ".*"):
        wanted += json.load(open(path))
    by_fd = {(t["pid"], t["fd"]): t for t in reported}
    expect(len(reported) == len(wanted) and len(by_fd) == len(wanted),
           "%s: %d sockets left open, %d transports reported" % (what, len(wanted), len(reported)))
    for w in wanted:
        t = by_fd.get((w["pid"], w["fd"]))
        expect(t is not None and [f["flag"] for f in t["flags"]] == ["never-closed"],
               "%s: fd %d of pid %d not reported as never-closed: %s" % (what, w["fd"], w["pid"], t))
        got = [[f["file"], f["line"], f["function"]] for f in t["python_traceback"] or []]
        # socket.py's own line (the innermost frame) is not known to the script: its name is.
        want = w["frames"]
        same = len(got) == len(want) and all(g[0] == e[0] and g[2] == e[2] and (e[1] is None or g[1] == e[1])
                                             for g, e in zip(got, want))
        expect(same, "%s: fd %d, traceback\n  %s\nexpected (as Python computes it)\n  %s" %
               (what, w["fd"], "\n  ".join(map(str, got)), "\n  ".join(map(str, want))))
    return p.stdout


def test_traceback_of_code_objects_freed_and_their_addresses_reused():
    """1,800 functions made by exec, each freed before the next is made: CPython gives the next
    code object the same address (checked bare). A cache keyed by address that missed a code
    object's death would report the first one's file, name and line for all of them. Then 1,600
    code objects alive at once: the last 64 come after the cache is full (1,536) and are read the
    old way; all freed, the cache takes the next 200."""
    with tempfile.TemporaryDirectory() as tmp:
        bare = run([PYTHON, os.path.join(PY, "traceback_cache.py"), "reused", tmp + "/bare"], timeout=120)
        expect(bare.returncode == 0 and "distinct code object addresses: " in bare.stdout, bare.stderr)
        distinct = int(bare.stdout.split("distinct code object addresses: ")[1].split()[0])
        expect(distinct < 100, "the scenario must reuse addresses to test anything: %d distinct" % distinct)
    for under_run in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            traceback_cache("reused", tmp, under_run=under_run)


def test_traceback_cache_keeps_no_code_object_alive():
    """The cache holds weak references: a code object on a captured traceback has the reference
    count it has bare, and dies when its function is deleted, as bare (a strong reference, as
    the cache first held, kept it alive with one reference more)."""
    for interpreter in [PYTHON] + other_interpreters():
        with tempfile.TemporaryDirectory() as tmp:
            bare = run([interpreter, os.path.join(PY, "traceback_cache.py"), "lifetime", tmp + "/bare"],
                       timeout=120)
        expect(bare.returncode == 0 and "dead when their function was deleted: 20 of 20" in bare.stdout,
               "%s bare: %s%s" % (interpreter, bare.stdout, bare.stderr))
        for under_run in (False, True) if interpreter == PYTHON else (False,):
            with tempfile.TemporaryDirectory() as tmp:
                out = traceback_cache("lifetime", tmp, interpreter, under_run=under_run)
            expect(out == bare.stdout, "%s%s: preloaded\n%sbare\n%s" % (
                interpreter, " under sockleak run" if under_run else "", out, bare.stdout))


def test_traceback_of_a_function_redefined_renamed_and_moved():
    for under_run in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            traceback_cache("redefined", tmp, under_run=under_run)


def test_traceback_lines_in_a_long_function():
    """Sockets made at lines 4, 1502 and 3000 of one function, three times each, in two calls:
    one code object, three offsets, each line cached on its own."""
    for under_run in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            traceback_cache("long", tmp, under_run=under_run)


def test_traceback_from_four_threads_at_once():
    for under_run in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            traceback_cache("threads", tmp, under_run=under_run)


def test_traceback_in_a_forked_child_of_a_cached_parent():
    for under_run in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            traceback_cache("fork", tmp, under_run=under_run)


def test_traceback_cache_on_other_cpython_builds():
    """3.9 and 3.10 have no PyFrame_GetLasti and read every frame the old way; 3.12 and 3.13 use
    the cache: the same tracebacks either way."""
    others = other_interpreters()
    for interpreter in others:
        for scenario in ("redefined", "long", "fork"):
            with tempfile.TemporaryDirectory() as tmp:
                traceback_cache(scenario, tmp, interpreter)
    return "%d other CPython build(s): %s" % (len(others), ", ".join(others) or "none on this machine")


def test_embedding_program_initializes_python_three_times():
    """Review of issue 12: an embedding program runs Py_Initialize, a script and Py_Finalize three
    times. The cache's weak references and callback were objects of the first interpreter, used
    in the second: its Py_FinalizeEx crashed (SIGSEGV) under the preload, where bare it runs
    to the end. Each round's kept socket has its own round's traceback."""
    config = "/usr/bin/python3-config"
    flags_out = run([config, "--includes", "--embed", "--libs"], timeout=30)
    expect(flags_out.returncode == 0, "python3-config: %s" % flags_out.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "embed_twice")
        built = run(["cc", "-o", exe, os.path.join(PY, "embed_twice.c")] + flags_out.stdout.split(), timeout=60)
        expect(built.returncode == 0, built.stderr)
        bare = run([exe], timeout=60)
        expect(bare.returncode == 0 and bare.stdout == "round 1 done\nround 2 done\nround 3 done\n",
               "bare: %d %s%s" % (bare.returncode, bare.stdout, bare.stderr))
        p = run([exe], env=preload_env("json=%s/r.json" % tmp), timeout=60)
        expect(p.stdout == bare.stdout and p.returncode == 23,
               "preloaded: exit status %d (bare 0; 23 for the findings)\n%s%s" %
               (p.returncode, p.stdout, p.stderr[-2000:]))
        transports = json.load(open(tmp + "/r.json"))["transports"]
    kept = [t for t in transports if any(f["function"].startswith("make_") for f in t["python_traceback"] or [])]
    got = [[[f["file"], f["line"], f["function"]] for f in t["python_traceback"]][:2] for t in kept]
    want = [[["<string>", 8, "<module>"], ["<string>", 3, "make_%d" % r]] for r in (1, 2, 3)]
    expect(got == want, "tracebacks of the kept sockets:\n%s\nexpected\n%s" % (got, want))
    # The sockets f made and closed are reported after the first round (the interpreter's
    # shutdown noted once per process: known, docs/reliability.md); each names its own code object.
    gens = {"gen%d.py" % i for i in range(300)}
    for t in transports:
        inner = (t["python_traceback"] or [])[1:2]
        expect(t in kept or (inner and inner[0]["function"] == "f" and inner[0]["file"] in gens
                             and inner[0]["line"] == 3), "an unexpected traceback: %s" % t["python_traceback"])
