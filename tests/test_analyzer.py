"""sockleak-report: the replay gives the live preload's verdicts, one report merges a process
tree, a killed process's open transports come out process-killed, suppressions and baselines,
and damaged logs are refused with their file and byte offset (and fuzzed)."""

import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile

import apps
import eventlog as el
from common import BUILD, PRELOAD, REPORT, ROOT, Failure, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
HOLDER = os.path.join(PROGS, "holder")
LEAKY = os.path.join(PROGS, "leaky")
SPAWN_TREE = os.path.join(PROGS, "spawn_tree")


# ---- helpers ----

def run_logged(argv, tmp, options="", timeout=60):
    """Runs argv under the preload, its event logs in tmp/run and its live JSON reports in
    tmp/live.PID.json."""
    os.makedirs(os.path.join(tmp, "run"), exist_ok=True)
    opts = "run_dir=%s/run:json=%s/live.%%p.json:report=0" % (tmp, tmp)
    if options:
        opts += ":" + options
    env = dict(os.environ, LD_PRELOAD=PRELOAD, SOCKLEAK_OPTIONS=opts, TEST_TMP=tmp)
    return run(argv, env=env, cwd=tmp, timeout=timeout)


def analyze(tmp, *args, paths=None, name="a.json"):
    """Runs the analyzer; returns (CompletedProcess, its JSON report or None)."""
    out = os.path.join(tmp, name)
    if os.path.exists(out):
        os.unlink(out)
    p = run([REPORT, "--json", out] + list(args) + (paths or [os.path.join(tmp, "run")]), timeout=60)
    expect(p.returncode >= 0, "sockleak-report died of signal %d:\n%s" % (-p.returncode, p.stderr))
    doc = None
    if os.path.exists(out):
        with open(out) as f:
            doc = json.load(f)
    return p, doc


def findings(doc, proc=None):
    """Sorted (kind, role, flags) of the transports reported, for one process index or all."""
    return sorted((t["kind"], t["role"] or "none", ",".join(sorted(f["flag"] for f in t["flags"])))
                  for t in doc["transports"] if proc is None or t["process"] == proc)


def start_killable(argv, tmp, options=""):
    os.makedirs(os.path.join(tmp, "run"), exist_ok=True)
    opts = "run_dir=%s/run:json=%s/live.%%p.json:report=0" % (tmp, tmp) + (":" + options if options else "")
    env = dict(os.environ, LD_PRELOAD=PRELOAD, SOCKLEAK_OPTIONS=opts)
    p = subprocess.Popen(argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if not line or line[0] != "ready":
        p.kill()
        raise Failure("%s did not get ready: %r %s" % (argv[0], line, p.stderr.read()))
    return p, [int(x) for x in line[1:]]


def one_log(tmp, argv):
    """The bytes of the one event log argv writes."""
    run_logged(argv, tmp)
    logs = glob.glob(os.path.join(tmp, "run", "sockleak.*.log"))
    expect(len(logs) == 1, "one log expected, found %s" % logs)
    with open(logs[0], "rb") as f:
        return f.read()


# ---- the replay agrees with the live preload ----

def test_replay_gives_the_live_verdicts_for_every_test_program():
    """Each test program runs once with both json= (the preload's live verdicts) and run_dir=
    (the event log); the analyzer's replay must find the same transports, kinds, roles and
    flags, process by process."""
    checked = 0
    for name in apps.app_names():
        spec = apps.parse_spec(os.path.join(ROOT, "testapps", name + ".c"))
        exe = os.path.join(BUILD, "testapps", name)
        with tempfile.TemporaryDirectory(prefix="sockleak-replay-") as tmp:
            args = [a.replace("$TMP", tmp) for a in spec["args"]]
            options = spec["options"].replace("$TMP", tmp)
            run_logged([exe] + args, tmp, options, timeout=spec["timeout"])
            live, live_stacks, seen = {}, {}, {}
            for path in glob.glob(os.path.join(tmp, "live.*.json")):
                with open(path) as f:
                    r = json.load(f)
                seen[r["pid"]] = r["summary"]["transports_seen"]
                live[r["pid"]] = sorted((t["kind"], t["role"] or "none", ",".join(sorted(x["flag"] for x in t["flags"])))
                                        for t in r["transports"])
                for t in r["transports"]:
                    live_stacks[(r["pid"], t["id"])] = t["opened_at"]
            extra = ["--report-inherited"] if "report_inherited=1" in options else []
            p, doc = analyze(tmp, "--fail-on", "never", *extra)
            expect(p.returncode == 0 and doc, "%s: analyzer status %d\n%s" % (name, p.returncode, p.stderr))
            replay = {}
            for i, proc in enumerate(doc["processes"]):
                replay.setdefault(proc["pid"], []).extend(findings(doc, i))
            for pid in live:
                # A process makes its event log at its first event (issue 12): one that saw no
                # transport at all has none, and nothing to replay.
                expect(pid in replay or seen[pid] == 0, "%s: pid %d has a live report but no replayed process"
                       % (name, pid))
                if pid not in replay:
                    continue
                expect(sorted(replay[pid]) == live[pid], "%s: pid %d: live %s, replayed %s" % (
                    name, pid, live[pid], sorted(replay[pid])))
            # The same frames, symbolized offline with one symbolizer for the whole run, with the
            # same addresses.
            for t in doc["transports"]:
                want = live_stacks.get((t["pid"], t["id"]))
                expect(want is None or t["opened_at"] == want, "%s: transport %d of pid %d: live stack %s, replayed %s" % (
                    name, t["id"], t["pid"], want, t["opened_at"]))
            for pid, found in replay.items():
                expect(pid in live or not found, "%s: pid %d: replay found %s, the preload reported nothing" % (
                    name, pid, found))
            expect(doc["run"]["unreadable_logs"] == 0 and doc["run"]["killed"] == 0,
                   "%s: run %s" % (name, doc["run"]))
            checked += 1
    return "%d test programs: replay and live preload agree, stacks included" % checked


# ---- killed processes ----

HOLDER_FINDINGS = sorted([("tcp4", "listener", "process-killed"), ("tcp4", "client", "process-killed"),
                          ("tcp4", "accepted", "process-killed"), ("unix-stream", "pair", "process-killed"),
                          ("unix-stream", "pair", "process-killed")])


def test_sigkill_reports_open_transports_as_process_killed():
    with tempfile.TemporaryDirectory(prefix="sockleak-killed-") as tmp:
        p, pids = start_killable([HOLDER, "fork"], tmp)
        parent, child = pids
        os.kill(child, signal.SIGKILL)
        os.kill(parent, signal.SIGKILL)
        p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()
        expect(p.returncode == -signal.SIGKILL, "holder status %d" % p.returncode)
        expect(not glob.glob(tmp + "/live.*.json"), "a killed process writes no live report")
        # Without the wrapper's statuses the signal is unknown; with them, it is named.
        r, doc = analyze(tmp)
        expect(r.returncode == 0, "warnings only: status %d\n%s" % (r.returncode, r.stderr))
        pidx = {pr["pid"]: i for i, pr in enumerate(doc["processes"])}
        expect(findings(doc, pidx[parent]) == HOLDER_FINDINGS, "parent: %s" % findings(doc, pidx[parent]))
        expect(findings(doc, pidx[child]) == [("udp4", "socket", "process-killed")],
               "child (its inherited transports are its parent's): %s" % findings(doc, pidx[child]))
        expect(doc["processes"][pidx[child]]["parent"] == pidx[parent], "the child's parent")
        for pr in doc["processes"]:
            expect(pr["exit"] == {"how": "killed", "status": None, "signal": None}, str(pr["exit"]))
        expect("died without exiting (killed by a signal)" in r.stdout, r.stdout)
        with open(os.path.join(tmp, "run", "exit-status"), "w") as f:
            f.write("# test\n%d signal 9\n%d signal 9\n" % (parent, child))
        r, doc = analyze(tmp, "--fail-on", "warning")
        expect(r.returncode == 23, "--fail-on warning fails on process-killed: status %d" % r.returncode)
        expect(doc["processes"][pidx[parent]]["exit"]["signal"] == 9, str(doc["processes"][pidx[parent]]))
        expect("open (fd 5) when the process was killed by signal 9" in r.stdout, r.stdout)
        expect("killed by SIGKILL" in r.stdout, r.stdout)
        expect(doc["run"]["killed"] == 2 and doc["summary"]["warnings"] == 6, str(doc["summary"]))
        expect("reader-not-removed" not in r.stdout and "never-closed" not in r.stdout,
               "a killed process's registrations and sockets are process-killed only:\n" + r.stdout)
    return "5 + 1 transports process-killed, signal 9 from the status file"


# ---- one report for a process tree ----

def test_fork_tree_and_exec_chain_merge_into_one_report():
    with tempfile.TemporaryDirectory(prefix="sockleak-tree-") as tmp:
        p = run_logged([SPAWN_TREE], tmp)
        expect(p.returncode == 23, "spawn_tree (its last image leaks): %d %s" % (p.returncode, p.stderr))
        r, doc = analyze(tmp)
        expect(r.returncode == 23, "status %d\n%s" % (r.returncode, r.stderr))
        procs = doc["processes"]
        # Child 2 makes no socket and inherits none: it has no event log (issue 12), and its
        # child, the grandchild, is a root of the tree.
        expect(len(procs) == 5, "5 process images expected, got %d" % len(procs))
        img0, child1, grand, img1, child4 = range(5)
        root_pid = procs[img0]["pid"]
        expect([pr["pid"] == root_pid for pr in procs] == [True, False, False, True, False],
               "order: %s" % [pr["pid"] for pr in procs])
        links = [(pr["parent"], pr["exec_of"]) for pr in procs]
        expect(links == [(None, None), (0, None), (None, None), (None, 0), (3, None)], "links %s" % links)
        expect([pr["exit"]["how"] for pr in procs] == ["exec", "exit", "exit", "exit", "killed"],
               str([pr["exit"] for pr in procs]))
        expect(procs[img1]["argv"][1:] == ["stage2"] and procs[img1]["exec_image"], str(procs[img1]))
        expect(findings(doc, img0) == [("udp4", "socket", "reader-not-removed")], str(findings(doc, img0)))
        expect(findings(doc, child1) == [("udp4", "socket", "never-closed")], str(findings(doc, child1)))
        expect(findings(doc, grand) == [("tcp4", "listener", "never-closed")], str(findings(doc, grand)))
        expect(findings(doc, img1) == [("unix-stream", "pair", "never-closed")] * 2, str(findings(doc, img1)))
        expect(findings(doc, child4) == [("tcp4", "socket", "process-killed")], str(findings(doc, child4)))
        opened = {t["process"]: [f["function"] for f in t["opened_at"]] for t in doc["transports"]}
        for proc, fn in ((child1, "leak_udp"), (grand, "leak_listener"), (img1, "leak_pair"), (child4, "leak_tcp")):
            expect(fn in opened[proc], "process %d: made in %s, stack %s" % (proc, fn, opened[proc]))
        expect(doc["summary"]["errors"] == 5 and doc["summary"]["warnings"] == 1, str(doc["summary"]))
        # The text report draws the tree.
        tree = r.stdout[r.stdout.index("Processes: 5"):]
        lines = [l for l in tree.splitlines()[1:6]]
        expect(re.match(r"^  %d replaced by exec, 1 error: " % root_pid, lines[0]), tree)
        expect(re.match(r"^    \d+ fork, exit 0, 1 error: ", lines[1]), tree)
        expect(re.match(r"^    %d exec, exit 0, 2 errors: .* stage2$" % root_pid, lines[2]), tree)
        expect(re.match(r"^      \d+ fork, died without exiting \(signal unknown\), 1 warning: .* stage2$", lines[3]), tree)
        expect(re.match(r"^  \d+ fork, exit 0, 1 error: ", lines[4]), tree)
    return "5 images (child 2 recorded nothing), 3 links, 6 transports as expected"


# ---- suppressions ----

def test_suppressions_report_what_was_used_and_keep_quiet():
    with tempfile.TemporaryDirectory(prefix="sockleak-supp-") as tmp:
        run_logged([LEAKY, "udp", "tcp"], tmp)
        supp = os.path.join(tmp, "supp.txt")
        with open(supp, "w") as f:
            f.write("# accepted: the UDP socket lives as long as the process\nnever-closed:leak_udp\n"
                    "reader-not-removed:no_such_function\n")
        r, doc = analyze(tmp, "--suppressions", supp)
        expect(r.returncode == 23, "the listener still fails the gate: %d" % r.returncode)
        expect(findings(doc) == [("tcp4", "listener", "never-closed")], str(findings(doc)))
        expect(doc["summary"]["suppressed"] == 1, str(doc["summary"]))
        expect(doc["suppressions"] == [
            {"flag": "never-closed", "pattern": "leak_udp", "hits": 1, "built_in": False},
            {"flag": "reader-not-removed", "pattern": "no_such_function", "hits": 0, "built_in": False},
            {"flag": "reader-not-removed", "pattern": "trio/_core/_wakeup_socketpair.py", "hits": 0, "built_in": True},
            {"flag": "closed-at-exit", "pattern": "^_make_self_pipe$", "hits": 0, "built_in": True}],
               str(doc["suppressions"]))
        used = r.stdout[r.stdout.index("Suppressions used:"):]
        expect("      1 never-closed:leak_udp" in used, used)
        expect("no_such_function" not in r.stdout, "an unused suppression is not listed as used")
        expect("leak_udp" not in r.stdout.replace("never-closed:leak_udp", ""), "the suppressed finding shows")
        # Everything suppressed: the gate passes.
        with open(supp, "a") as f:
            f.write("never-closed:leak_tcp\n")
        r, doc = analyze(tmp, "--suppressions", supp)
        expect(r.returncode == 0 and doc["transports"] == [], "status %d, %s" % (r.returncode, doc["transports"]))
        expect("all finished properly (some findings suppressed)" in r.stdout, r.stdout)
        # An unknown flag stops the analysis, naming the valid ones.
        with open(supp, "w") as f:
            f.write("never-closed:x\nnever-close:leak_udp\n")
        r = run([REPORT, "--suppressions", supp, os.path.join(tmp, "run")])
        expect(r.returncode == 1, "unknown flag: status %d" % r.returncode)
        expect("%s:2: unknown flag 'never-close' (valid flags: never-closed, closed-at-exit, reader-not-removed, "
               "closed-while-registered, tls-shutdown-abandoned, tls-no-close-notify, tls-not-freed, "
               "process-killed)" % supp in r.stderr, r.stderr)
        expect(r.stdout == "", "no report after a bad suppressions file")
    return "1 used, 1 unused, unknown flag refused"


# ---- baselines ----

def test_baseline_hides_known_findings_and_fails_on_a_new_one():
    with tempfile.TemporaryDirectory(prefix="sockleak-baseline-") as tmp:
        runs = {}
        for name, leaks in (("a", ["udp", "epoll"]), ("b", ["udp", "epoll"]), ("c", ["udp", "epoll", "tcp"])):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            run_logged([LEAKY] + leaks, d)
            runs[name] = d
        base = os.path.join(runs["a"], "a.json")
        r, a = analyze(runs["a"])
        expect(r.returncode == 23 and len(a["transports"]) == 2, "first run: %d" % r.returncode)
        # Another run of the same program: other pids, ports and addresses, the same fingerprints.
        r, b = analyze(runs["b"], "--baseline", base)
        fps = lambda d: sorted(f["fingerprint"] for t in d["transports"] for f in t["flags"])
        expect(fps(a) == fps(b) and len(set(fps(a))) == 3, "fingerprints differ: %s %s" % (fps(a), fps(b)))
        expect(r.returncode == 0, "nothing new: status %d\n%s" % (r.returncode, r.stdout))
        expect("Transport #" not in r.stdout, "known findings are not shown:\n" + r.stdout)
        expect("baseline %s: 3 known findings not shown, 0 fixed since, 0 new findings" % base in r.stdout, r.stdout)
        expect(b["gate"] == {"fail_on": "error", "baseline": base, "new_errors": 0, "new_warnings": 0, "known": 3,
                             "fixed": 0, "evidence_lost": 0, "passed": True}, str(b["gate"]))
        expect(all(f["baseline"] == "unchanged" for t in b["transports"] for f in t["flags"]), "states")
        # One new leak: it alone is shown, and fails the gate.
        r, c = analyze(runs["c"], "--baseline", base)
        expect(r.returncode == 23, "a new finding fails the gate: status %d" % r.returncode)
        shown = re.findall(r"^Transport #\d+: (\S+ \w+)", r.stdout, re.M)
        expect(shown == ["tcp4 listener"], "only the new finding is shown: %s\n%s" % (shown, r.stdout))
        expect("FAILED: 1 new error (--fail-on error): exit status 23" in r.stdout, r.stdout)
        states = sorted((t["kind"], f["flag"], f["baseline"]) for t in c["transports"] for f in t["flags"])
        expect(states == [("tcp4", "never-closed", "new"), ("udp4", "never-closed", "unchanged"),
                          ("udp4", "never-closed", "unchanged"), ("udp4", "reader-not-removed", "unchanged")],
               str(states))
        # The preload's own JSON report serves as a baseline too (fingerprints computed from it).
        live = glob.glob(os.path.join(runs["a"], "live.*.json"))
        r, _ = analyze(runs["c"], "--baseline", live[0], name="c2.json")
        expect(r.returncode == 23 and re.findall(r"^Transport #\d+: (\S+ \w+)", r.stdout, re.M) == ["tcp4 listener"],
               "the preload's JSON as a baseline: %d\n%s" % (r.returncode, r.stdout))
        # A fixed finding is counted as fixed.
        r, _ = analyze(runs["a"], "--baseline", os.path.join(runs["c"], "a.json"), name="a2.json")
        expect(r.returncode == 0 and "1 fixed since" in r.stdout, r.stdout)
        # A baseline that is not a report is refused.
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"tool": "other"}')
        r = run([REPORT, "--baseline", bad, runs["a"] + "/run"])
        expect(r.returncode == 1 and "baseline %s: not a sockleak JSON report" % bad in r.stderr, r.stderr)
    return "3 known hidden, 1 new fails with 23"


# ---- damaged logs ----

def corrupt_cases(log):
    """(name, bytes, offset, message) for damaged versions of a real log."""
    recs = el.records(log)
    pid = struct.unpack_from("<I", log, 16)[0]
    ev = [r for r in recs if r[2] == el.EVENT]
    st = [r for r in recs if r[2] == el.STACK]
    last = recs[-1]
    cases = [
        ("empty", b"", 0, "empty file (a log holds at least its 64-byte header)"),
        ("short-header", log[:30], 30, "truncated inside the 64-byte file header"),
        ("not-a-log", b"GARBAGE!" + log[8:], 0, "not a sockleak event log (it does not start with SOCKLEAK)"),
        ("future-version", log[:8] + struct.pack("<I", 4) + log[12:], 8,
         "written in log format version 4, newer than this sockleak-report reads (up to 3): analyze it with "
         "the sockleak that wrote it"),
        ("header-size", log[:12] + struct.pack("<I", 12) + log[16:], 12, "header size 12 is not valid"),
        ("truncated-record", log[:last[0] + last[1] - 8], last[0], "a EVENT record of %d bytes runs past the end "
         "of the file (%d bytes left): the file is truncated" % (last[1], last[1] - 8)),
        ("truncated-word", log[:last[0] + 4], last[0], "truncated: 4 bytes where a record header belongs"),
        ("bad-commit", log[:ev[0][0] + 6] + b"\x00\x00" + log[ev[0][0] + 8:], ev[0][0],
         "no record starts here (commit mark 0x0000, expected 0x5c1e)"),
        ("odd-size", log[:ev[0][0]] + struct.pack("<I", 12) + log[ev[0][0] + 4:], ev[0][0],
         "record size 12 is not valid (a multiple of 8, from 8 to 1 MiB)"),
        ("huge-size", log[:ev[0][0]] + struct.pack("<I", 0xfffffff8) + log[ev[0][0] + 4:], ev[0][0],
         "record size 4294967288 is not valid"),
        ("unknown-record", log[:ev[0][0] + 4] + struct.pack("<H", 9) + log[ev[0][0] + 6:], ev[0][0],
         "unknown record type 9"),
        ("unknown-event", log[:ev[0][0] + 8] + struct.pack("<H", 63) + log[ev[0][0] + 10:], ev[0][0] + 8,
         "unknown event type 63"),
        ("undefined-stack", log[:ev[0][0] + 20] + struct.pack("<I", 999) + log[ev[0][0] + 24:], ev[0][0] + 20,
         "EVENT names stack 999, which the log has not defined"),
        ("stack-twice", log[:last[0]] + log[st[0][0]:st[0][0] + st[0][1]] + log[last[0]:], last[0] + 8,
         "STACK id 1 is defined twice"),
        ("address-too-long", log[:ev[0][0] + 10] + struct.pack("<H", 200) + log[ev[0][0] + 12:], ev[0][0] + 10,
         "event address of 200 bytes (at most 128)"),
        ("fd-out-of-range", log[:ev[0][0] + 12] + struct.pack("<i", -7) + log[ev[0][0] + 16:], ev[0][0] + 12,
         "descriptor -7 out of range"),
        ("no-process", el.header(pid) + el.module("/bin/true"), 64,
         "MODULE record before the PROCESS record, which must come first"),
        ("process-twice", log[:last[0]] + log[recs[0][0]:recs[0][0] + recs[0][1]] + log[last[0]:], last[0],
         "a second PROCESS record (a log holds one process image)"),
        ("huge-argc", el.header(pid) + el.process(pid, argc=0x7fffffff), 84,
         "PROCESS record claims 2147483647 arguments (at most 65536 are accepted)"),
        ("missing-argument", el.header(pid) + el.process(pid, argv=("a",), argc=3), 64 + 8 + 24 + 16,
         "argument 1 of the 3 in the PROCESS record is missing or not NUL-ended"),
        ("string-overflow", el.header(pid) + el.process(pid) + el.record(el.STRING, struct.pack("<II", 1, 1000)),
         64 + len(el.process(pid)) + 12, "STRING 1 claims 1000 bytes, its record holds 0"),
        ("python-undefined-string", el.header(pid) + el.process(pid) + el.string(1, "f.py") +
         el.python_stack(1, [(1, 2, 3)]), 64 + len(el.process(pid)) + len(el.string(1, "f.py")) + 16,
         "Python STACK 1, frame 0 names string 2, which the log has not defined"),
        ("after-exit", log + el.event("CLOSE", fd=3), len(log), "EVENT record after the EXIT event, which ends a log"),
    ]
    return pid, cases


def test_damaged_logs_are_refused_with_file_and_offset():
    with tempfile.TemporaryDirectory(prefix="sockleak-corrupt-") as tmp:
        log = one_log(tmp, [LEAKY, "udp"])
        pid, cases = corrupt_cases(log)
        for name, data, offset, message in cases:
            path = os.path.join(tmp, "%s.log" % name)
            with open(path, "wb") as f:
                f.write(data)
            r = run([REPORT, "--fail-on", "never", path], timeout=30)
            want = "sockleak-report: %s: byte %d: %s" % (path, offset, message)
            expect(r.returncode == 2, "%s: status %d, expected 2\n%s" % (name, r.returncode, r.stderr))
            expect(want in r.stderr, "%s: stderr lacks\n  %s\n%s" % (name, want, r.stderr))
        # What is not damaged: a killed process's zero fill, and whatever a record never finished
        # left behind it.
        path = os.path.join(tmp, "zero-fill.log")
        with open(path, "wb") as f:
            f.write(log[:el.records(log)[-1][0]] + bytes(8) + b"\x01" * 56 + bytes(4096))
        r = run([REPORT, "--fail-on", "never", path])
        expect(r.returncode == 0 and r.stderr == "", "zero fill: %d %s" % (r.returncode, r.stderr))
        expect("process-killed" in r.stdout, "the log ended before EXIT: the process died\n" + r.stdout)
        # A FIFO named like a log is not waited on; a directory of logs without any is reported.
        fifo_dir = os.path.join(tmp, "fifo")
        os.mkdir(fifo_dir)
        os.mkfifo(os.path.join(fifo_dir, "sockleak.1.0.log"))
        r = run([REPORT, fifo_dir], timeout=20)
        expect(r.returncode == 2 and "sockleak.1.0.log: not a regular file" in r.stderr, r.stderr)
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        r = run([REPORT, empty])
        expect(r.returncode == 2 and "no event logs (sockleak.PID.N.log) in this directory" in r.stderr, r.stderr)
    return "%d damaged logs refused, each at its offset" % len(cases)


def test_one_damaged_log_among_good_ones():
    """The other processes are still reported; the damaged one shows what came before the damage;
    the status says the report is incomplete (2), unless the gate fails (23)."""
    with tempfile.TemporaryDirectory(prefix="sockleak-onebad-") as tmp:
        run_logged([SPAWN_TREE], tmp)
        logs = sorted(glob.glob(os.path.join(tmp, "run", "sockleak.*.log")), key=os.path.getmtime)
        # The grandchild's log (the listener): cut inside its EXIT record.
        victim = None
        for path in logs:
            with open(path, "rb") as f:
                data = f.read()
            if any(r[2] == el.EVENT and el.event_fields(r[3])[0] == el.EV["LISTEN"] for r in el.records(data)):
                victim, vdata = path, data
        expect(victim, "no log with a LISTEN event")
        last = el.records(vdata)[-1]
        with open(victim, "wb") as f:
            f.write(vdata[:last[0] + 16])
        r, doc = analyze(tmp, "--fail-on", "never")
        expect(r.returncode == 2, "status %d\n%s" % (r.returncode, r.stderr))
        expect("sockleak-report: %s: byte %d: a EVENT record" % (victim, last[0]) in r.stderr, r.stderr)
        expect(len(doc["processes"]) == 5 and doc["run"]["unreadable_logs"] == 1, str(doc["run"]))
        bad = [i for i, pr in enumerate(doc["processes"]) if pr["log"] == victim][0]
        expect(doc["processes"][bad]["exit"]["how"] == "unknown" and doc["processes"][bad]["incomplete"],
               str(doc["processes"][bad]))
        expect(findings(doc, bad) == [], "its listener, open at the damage, is not judged: %s" % findings(doc, bad))
        expect("its event log is damaged at byte %d" % last[0] in r.stdout, r.stdout)
        expect(len(findings(doc)) == 5, "the other processes are all reported: %s" % findings(doc))
        r, _ = analyze(tmp)
        expect(r.returncode == 23, "the gate's failure wins: %d" % r.returncode)
    return "5 findings of the 5 good logs, status 2"


def test_hand_made_logs_replay():
    """What the test programs do not write: Python tracebacks, TLS, a stopped log, remapped ids."""
    with tempfile.TemporaryDirectory(prefix="sockleak-synth-") as tmp:
        pid = 5151
        # A forked child's log numbers stacks with its parent's ids: 7 and 3, never 1.
        log = (el.header(pid) + el.process(pid, ppid=5150, forked_from=5150, argv=("srv",)) +
               el.event("FORKED", a=9, b=1) + el.native_stack(7, [0x401000]) +
               el.event("INHERIT", fd=3, fd2=1, a=2, b=1, obj=4, stack=7) + el.native_stack(3, [0x402000]) +
               el.string(5, "app.py") + el.string(2, "serve") + el.python_stack(9, [(5, 2, 42)]) +
               el.event("SOCKET", fd=4, a=2, b=2, stack=3, pystack=9) + el.event("EXIT", a=0, b=1))
        path = os.path.join(tmp, "sockleak.%d.0.log" % pid)
        with open(path, "wb") as f:
            f.write(log)
        r, doc = analyze(tmp, "--no-symbolize", paths=[path])
        expect(r.returncode == 23, "status %d %s" % (r.returncode, r.stderr))
        expect(findings(doc) == [("udp4", "socket", "never-closed")], "the inherited one is not judged: %s" % findings(doc))
        t = doc["transports"][0]
        expect(t["python_traceback"] == [{"file": "app.py", "line": 42, "function": "serve"}], str(t))
        expect(t["opened_at"][0]["pc"] == "0x402000", str(t["opened_at"]))
        expect('File "app.py", line 42, in serve' in r.stdout, r.stdout)
        # A note as the last record: the log stopped early; open transports are not judged, and
        # the lost evidence fails the gate (status 3), never 'all finished properly'.
        stopped = log[:-len(el.event("EXIT", a=0, b=1))] + el.note("the event log reached its size limit")
        with open(path, "wb") as f:
            f.write(stopped)
        r, doc = analyze(tmp, "--no-symbolize", paths=[path])
        expect(r.returncode == 3 and doc["transports"] == [], "%d %s" % (r.returncode, doc["transports"]))
        expect(doc["gate"]["passed"] is False and doc["gate"]["evidence_lost"] == 1, str(doc["gate"]))
        expect("EVIDENCE LOST: process %d (srv): its event log stopped early: the event log reached its "
               "size limit" % pid in r.stdout and "all finished properly" not in r.stdout, r.stdout)
        expect(doc["processes"][0]["exit"]["how"] == "unknown" and doc["processes"][0]["incomplete"], str(doc))
        expect("note (pid %d): the event log reached its size limit" % pid in r.stdout, r.stdout)
        expect("its event log stopped early" in r.stdout, r.stdout)
    return "remapped ids, Python frames, a stopped log"


# ---- the fuzz target ----

def test_fuzz_log_reader_bounded():
    """libFuzzer under ASan and UBSan, from the seed corpus, for a bounded time."""
    m = run(["make", "-s", "--no-print-directory", "-C", ROOT, "build/fuzz_log_reader"], timeout=300)
    expect(m.returncode == 0, "building the fuzz target failed:\n%s%s" % (m.stdout, m.stderr))
    fuzzer = os.path.join(BUILD, "fuzz_log_reader")
    seeds = os.path.join(ROOT, "analyzer", "fuzz-corpus")
    expect(len(os.listdir(seeds)) >= 10, "the seed corpus is missing")
    with tempfile.TemporaryDirectory(prefix="sockleak-fuzz-") as tmp:
        corpus = os.path.join(tmp, "corpus")
        os.mkdir(corpus)
        r = run([fuzzer, "-max_total_time=20", "-timeout=10", "-rss_limit_mb=2048", "-max_len=8192",
                 "-print_final_stats=1", "-artifact_prefix=%s/" % tmp, corpus, seeds], timeout=120, cwd=tmp)
        crashes = [f for f in os.listdir(tmp) if f.startswith(("crash-", "leak-", "timeout-", "oom-"))]
        if r.returncode != 0 or crashes:
            keep = os.path.join(BUILD, "fuzz-artifacts")
            os.makedirs(keep, exist_ok=True)
            for c in crashes:
                shutil.copy(os.path.join(tmp, c), keep)
            raise Failure("the fuzzer found a problem (status %d; inputs kept in %s: %s):\n%s" % (
                r.returncode, keep, crashes, r.stderr[-4000:]))
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
        cov = re.search(r"cov: (\d+)", r.stderr)
    return "%s inputs in 20 s, coverage %s, no finding" % (runs.group(1) if runs else "?", cov.group(1) if cov else "?")


# ---- the command line ----

def test_usage_errors():
    r = run([REPORT])
    expect(r.returncode == 1 and "no run directory or log file to read" in r.stderr, r.stderr)
    r = run([REPORT, "--jsn", "x", "/tmp"])
    expect(r.returncode == 1 and "unknown option '--jsn' (--help lists the options)" in r.stderr, r.stderr)
    r = run([REPORT, "--fail-on", "sometimes", "/tmp"])
    expect(r.returncode == 1 and "--fail-on takes error, warning or never, not 'sometimes'" in r.stderr, r.stderr)
    r = run([REPORT, "--exitcode", "300", "/tmp"])
    expect(r.returncode == 1 and "--exitcode takes an exit status, 0 to 255, not '300'" in r.stderr, r.stderr)
    r = run([REPORT, "/nonexistent/run"])
    expect(r.returncode == 2 and "/nonexistent/run: No such file or directory" in r.stderr, r.stderr)
    r = run([REPORT, "--help"])
    expect(r.returncode == 0 and "Usage: sockleak-report" in r.stdout and "Exit status" in r.stdout, r.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        run_logged([LEAKY, "udp"], tmp)
        r = run([REPORT, "--json", "/nonexistent/dir/a.json", os.path.join(tmp, "run")])
        expect(r.returncode == 1 and "cannot write /nonexistent/dir/a.json" in r.stderr, r.stderr)
        r = run([REPORT, os.path.join(tmp, "run"), "--exitcode", "42", "--json", "-"])
        expect(r.returncode == 42, "options after the directory: %d" % r.returncode)
        expect(json.loads(r.stdout)["gate"]["passed"] is False, "JSON on stdout")
        expect("SUMMARY: sockleak: 1 error" in r.stderr, "the text report moves to stderr: " + r.stderr)
