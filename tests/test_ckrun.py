"""Issue 14 under `sockleak run`: the run's JSON lists the checkpoints the program made
(sockleak_check), each finding with its fingerprint and baseline state, with the suppressions
of the run; a checkpoint's findings do not fail the gate (a check does not change the preload's
exit status either)."""

import json
import os
import tempfile

from common import SOCKLEAK, expect, run
from test_checkpoints import bare_env, build_marks

# marks.c: at "first part", the tcp4 socket open_leaky made and the socketpair end registered
# with epoll are open; everything is closed at exit, and "second part" finds nothing.
FIRST_PART = [
    ("tcp4", "socket", ["never-closed"]),
    ("unix-stream", "pair", ["never-closed", "reader-not-removed"]),
]


def run_marks(tmp, exe, name, *options):
    out = os.path.join(tmp, name)
    p = run([SOCKLEAK, "run", "--json", out] + list(options) + ["--", exe], env=bare_env(), cwd=tmp)
    expect(p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr))
    expect(p.stdout == "mark=1 n=2 n2=0 n3=0 text=0\n", p.stdout)
    with open(out) as f:
        return json.load(f)


def shape(checkpoint):
    return [(t["kind"], t["role"], [f["flag"] for f in t["flags"]]) for t in checkpoint["transports"]]


def fingerprints(doc):
    return [f["fingerprint"] for c in doc["checkpoints"] for t in c["transports"] for f in t["flags"]]


def test_run_json_has_the_checkpoints():
    with tempfile.TemporaryDirectory() as tmp:
        doc = run_marks(tmp, build_marks(tmp), "run.json")
        expect(doc["transports"] == [], "nothing is left at exit: %r" % doc["transports"])
        expect(len(doc["processes"]) == 1, doc["processes"])
        cps = doc["checkpoints"]
        expect([c["label"] for c in cps] == ["first part"], cps)
        c = cps[0]
        expect(c["process"] == 0 and c["pid"] == doc["processes"][0]["pid"], c)
        expect(c["count"] == 2 and c["suppressed"] == 0, c)
        expect(shape(c) == FIRST_PART, shape(c))
        expect(all(t["process"] == 0 and t["open"] for t in c["transports"]), c)
        expect(c["transports"][0]["opened_at"][0]["function"] == "open_leaky", c["transports"][0])
        expect(all(len(fp) == 16 for fp in fingerprints(doc)), fingerprints(doc))
        expect(len(set(fingerprints(doc))) == 3, fingerprints(doc))
        expect(all("baseline" not in f for c in cps for t in c["transports"] for f in t["flags"]), cps)
        gate = doc["gate"]
        expect(gate["passed"] and gate["new_errors"] == 0 and gate["new_warnings"] == 0, gate)


def test_run_checkpoint_fingerprints_are_stable_and_baselined():
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_marks(tmp)
        first = run_marks(tmp, exe, "first.json")
        second = run_marks(tmp, exe, "second.json", "--baseline", os.path.join(tmp, "first.json"))
        expect(len(fingerprints(first)) == 3, fingerprints(first))
        expect(fingerprints(second) == fingerprints(first), (fingerprints(first), fingerprints(second)))
        states = [f["baseline"] for c in second["checkpoints"] for t in c["transports"] for f in t["flags"]]
        expect(states == ["unchanged"] * 3, states)
        gate = second["gate"]
        expect(gate["passed"] and gate["fixed"] == 0 and gate["new_errors"] == 0, gate)
        # A baseline that does not hold them: every checkpoint finding is new, the gate still passes.
        with open(os.path.join(tmp, "empty.json"), "w") as f:
            json.dump({"tool": "sockleak", "format": 1, "transports": []}, f)
        new = run_marks(tmp, exe, "new.json", "--baseline", os.path.join(tmp, "empty.json"))
        states = [f["baseline"] for c in new["checkpoints"] for t in c["transports"] for f in t["flags"]]
        expect(states == ["new"] * 3, states)
        expect(new["gate"]["passed"], new["gate"])


def test_run_checkpoint_suppressions():
    with tempfile.TemporaryDirectory() as tmp:
        supp = os.path.join(tmp, "supp")
        with open(supp, "w") as f:
            f.write("never-closed:open_leaky\n")
        exe = build_marks(tmp)
        doc = run_marks(tmp, exe, "run.json", "--suppressions", supp)
        cps = doc["checkpoints"]
        expect([c["label"] for c in cps] == ["first part"], cps)
        expect(cps[0]["count"] == 1 and cps[0]["suppressed"] == 1, cps[0])
        expect(shape(cps[0]) == FIRST_PART[1:], shape(cps[0]))
        # Everything suppressed: the checkpoint is not listed (as the preload lists none).
        with open(supp, "a") as f:
            f.write("never-closed:main\nreader-not-removed:main\n")
        doc = run_marks(tmp, exe, "all.json", "--suppressions", supp)
        expect(doc["checkpoints"] == [], doc["checkpoints"])


def test_run_checkpoint_event_in_a_written_log():
    """A log written byte by byte: CHECKPOINT (54) lists what its replay has open since the mark;
    one naming a label string the log has not defined is refused at its offset."""
    import eventlog as el
    from common import REPORT
    SOCKET, EXIT, CHECKPOINT = 1, 16, 54
    pid = 4242
    start = el.header(pid) + el.process(pid, argv=("prog",))
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.log")
        with open(good, "wb") as f:
            f.write(start + el.event(SOCKET, fd=3, a=2, b=1) + el.event(SOCKET, fd=4, a=2, b=2) +
                    el.string(1, "step") + el.event(CHECKPOINT, a=1, obj=2) + el.event(EXIT, a=0, b=0))
        out = os.path.join(tmp, "good.json")
        r = run([REPORT, "--fail-on", "never", "--json", out, good])
        expect(r.returncode == 0, "status %d: %s" % (r.returncode, r.stderr))
        with open(out) as f:
            doc = json.load(f)
        cps = doc["checkpoints"]
        expect([(c["label"], c["pid"], c["process"]) for c in cps] == [("step", pid, 0)], cps)
        expect([(t["id"], t["fd"], t["kind"]) for t in cps[0]["transports"]] == [(2, 4, "udp4")], cps[0])
        bad = os.path.join(tmp, "bad.log")
        data = start + el.event(SOCKET, fd=3, a=2, b=1)
        with open(bad, "wb") as f:
            f.write(data + el.event(CHECKPOINT, a=7, obj=1))
        r = run([REPORT, "--fail-on", "never", bad])
        want = "sockleak-report: %s: byte %d: CHECKPOINT event names string 7, which the log has not defined" % (
            bad, len(data) + 8 + 24)
        expect(r.returncode == 2 and want in r.stderr, "status %d: %s" % (r.returncode, r.stderr))
