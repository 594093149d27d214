"""The benchmark workloads (bench/) and scripts/bench, run small: that they still build, run, stay
clean under sockleak, and that the script gets to its tables. No timing is asserted here: a
benchmark reports, `make bench` runs it in full, and a loaded machine must not fail a test."""

import json
import os
import tempfile
import threading

from common import BUILD, PYTHON, ROOT, expect, preload_env, run

BENCH = os.path.join(BUILD, "bench")
SMALL = {"churn": 300, "steady": 3000, "tls": 30, "scale": 3000, "files": 3000, "asyncio": 30}
SCRIPTS = {"asyncio": "asyncio_conn.py"}  # workloads written in Python (scripts/bench WORKLOADS)


def command(name, n):
    if name in SCRIPTS:
        return [PYTHON, os.path.join(ROOT, "bench", SCRIPTS[name]), str(n)]
    return [os.path.join(BENCH, name), str(n)]

_built = threading.Lock()
_done = []


def build():
    """make bench-build, once for all the tests here (they run in parallel threads)."""
    with _built:
        if not _done:
            p = run(["make", "-s", "-C", ROOT, "bench-build"], timeout=300)
            expect(p.returncode == 0, "make bench-build failed:\n%s%s" % (p.stdout, p.stderr[-3000:]))
            _done.append(True)


def result(stdout):
    """The bench-result line as a dict, and the last bench-main-end time."""
    res, end = None, None
    for line in stdout.splitlines():
        if line.startswith("bench-result "):
            res = dict(w.split("=", 1) for w in line.split()[1:])
        elif line.startswith("bench-main-end "):
            end = float(line.split()[1])
    expect(res is not None and end is not None, "no bench-result or bench-main-end line:\n" + stdout)
    return res


def test_workloads_run_bare():
    build()
    for name, n in SMALL.items():
        p = run(command(name, n), timeout=120)
        expect(p.returncode == 0, "%s: exit status %d\n%s" % (name, p.returncode, p.stderr[-2000:]))
        res = result(p.stdout)
        expect(int(res["units"]) == n, "%s: %s units, expected %d" % (name, res["units"], n))
        expect(float(res["seconds"]) > 0, "%s: no time measured" % name)


def test_workloads_are_clean_under_sockleak():
    """churn, steady, tls, files and asyncio finish every transport (and TLS session): a benchmark that
    made sockleak report something would measure the report, not the tracking."""
    build()
    for name in ("churn", "steady", "tls", "files", "asyncio"):
        for options in ("", "stack_depth=0", "track=all") + (("python=0",) if name == "asyncio" else ()):
            p = run(command(name, SMALL[name]), timeout=120, env=preload_env(options))
            expect(p.returncode == 0 and p.stderr == "",
                   "%s (%s): exit status %d, stderr:\n%s" % (name, options or "defaults", p.returncode,
                                                              p.stderr[-3000:]))
            result(p.stdout)


def test_scale_reports_every_socket():
    build()
    n = SMALL["scale"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        p = run([os.path.join(BENCH, "scale"), str(n)], timeout=120, env=preload_env("json=" + path))
        expect(p.returncode == 23, "exit status %d, expected 23\n%s" % (p.returncode, p.stderr[-2000:]))
        result(p.stdout)
        with open(path) as f:
            report = json.load(f)
        flags = [f["flag"] for t in report["transports"] for f in t["flags"]]
        expect(len(report["transports"]) == n, "%d transports in the JSON, expected %d" %
               (len(report["transports"]), n))
        expect(set(flags) <= {"never-closed", "closed-at-exit"} and len(flags) == n,
               "expected one never-closed (or closed-at-exit) finding per socket: %d findings, %s" %
               (len(flags), sorted(set(flags))))
        expect("SUMMARY: sockleak: %d errors" % n in p.stderr, p.stderr[-1000:])


def test_bench_script_smoke():
    """scripts/bench --smoke: every workload once, tiny, through every tool installed."""
    build()
    p = run([os.path.join(ROOT, "scripts", "bench"), "--smoke"], timeout=300)
    expect(p.returncode == 0, "scripts/bench --smoke: exit status %d\n%s%s" %
           (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    for name in SMALL:
        expect("| %s | sockleak, stacks on |" % name in p.stdout, "no %s row in:\n%s" % (name, p.stdout[-3000:]))


def test_threads_and_epoll_workloads():
    """Issue 12's workloads: threads (2 and 8 threads churning at once), epoll (ADD, DEL, MOD per
    request) and sockets2 (2 threads making, registering and closing sockets) run bare and under sockleak with every transport finished and nothing reported,
    and count the units they were asked for."""
    build()
    for args, n in ((["threads", "200", "2"], 200), (["threads", "200", "8"], 200), (["epoll", "500"], 500),
                    (["sockets2", "2000"], 2000)):
        for env in (None, preload_env(""), preload_env("stack_depth=0:epoll_stacks=2")):
            p = run([os.path.join(BENCH, args[0])] + args[1:], timeout=120, env=env)
            expect(p.returncode == 0 and (env is None or p.stderr == ""),
                   "%s: exit status %d, stderr:\n%s" % (" ".join(args), p.returncode, p.stderr[-3000:]))
            res = result(p.stdout)
            expect(int(res["units"]) == n, "%s: %s units, expected %d" % (" ".join(args), res["units"], n))


# Issue 12's workloads, which scripts/bench measures with functions of their own (not the
# per-unit pairs above): the start of a process that opens no socket, and memory per live
# TCP transport.
ISSUE12 = {"startup": 21, "live": 300}


def test_startup_and_live_run_bare_and_clean_under_sockleak():
    build()
    for name, n in ISSUE12.items():
        for env in (None, preload_env(""), preload_env("stack_depth=0")):
            p = run([os.path.join(BENCH, name), str(n)], timeout=120, env=env)
            expect(p.returncode == 0 and p.stderr == "",
                   "%s %s: exit status %d, stderr:\n%s" % (name, "preloaded" if env else "bare", p.returncode,
                                                         p.stderr[-3000:]))
            res = result(p.stdout)
            expect(int(res["units"]) == n, "%s: %s units, expected %d" % (name, res["units"], n))
    # The process the start-up figures are counted on: no argument, no output, status 0.
    p = run([os.path.join(BENCH, "startup")], timeout=60, env=preload_env(""))
    expect(p.returncode == 0 and p.stdout == "" and p.stderr == "", "startup alone: %d %r %r" %
           (p.returncode, p.stdout, p.stderr))
    p = run([os.path.join(BENCH, "live"), "300"], timeout=120)
    live = [line for line in p.stdout.splitlines() if line.startswith("bench-live ")]
    expect(len(live) == 2 and "transports=150 " in live[0] and "transports=600 " in live[1], str(live))


def test_bench_script_smoke_startup_and_live():
    build()
    p = run([os.path.join(ROOT, "scripts", "bench"), "--smoke", "--only", "startup,live"], timeout=300)
    expect(p.returncode == 0, "scripts/bench --smoke --only startup,live: exit status %d\n%s%s" %
           (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    for heading in ("### A shell loop of short processes", "| under `sockleak run` (analyzer included) | 21 |",
                    "### Memory per live TCP transport", "| stacks on | 150 vs 600 |"):
        expect(heading in p.stdout, "no %r in:\n%s" % (heading, p.stdout[-3000:]))
