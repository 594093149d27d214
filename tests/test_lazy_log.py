"""'sockleak run' makes a process's event log at its first event (issue 12): a process that
records nothing writes no file, the run's marker (preload-ran) says that the preload ran, and the
report of every process that recorded something is what it was. The marker is the evidence a
run without a log needs: without it (no process loaded the preload) the gate still fails, and a
log that could not be made at the first event fails it too (lost evidence), the program
unharmed."""

import glob
import json
import os
import stat
import subprocess
import tempfile

from common import BUILD, REPORT, SOCKLEAK, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
LAZY = os.path.join(PROGS, "lazy")
STATIC_EXEC = os.path.join(PROGS, "static_exec")
WRAPPER_FILES = ["exit-status", "lost-evidence", "preload-ran"]


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}


def sockleak_run(keep, *command, json_out=None, stderr=subprocess.PIPE):
    """sockleak run --keep KEEP [--json FILE] -- COMMAND; returns (CompletedProcess, JSON or None)."""
    args = [SOCKLEAK, "run", "--keep", keep] + (["--json", json_out] if json_out else []) + ["--"] + list(command)
    p = subprocess.run(args, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                       text=True, timeout=120)
    doc = None
    if json_out and os.path.exists(json_out):
        with open(json_out) as f:
            doc = json.load(f)
    return p, doc


def logs_in(keep):
    return sorted(os.path.basename(l) for l in glob.glob(os.path.join(keep, "sockleak.*.log")))


def others_in(keep):
    """What the run folder holds besides the logs."""
    return sorted(n for n in os.listdir(keep) if not (n.startswith("sockleak.") and n.endswith(".log")))


def top_pid(keep):
    """The command's pid, from the wrapper's exit-status file."""
    with open(os.path.join(keep, "exit-status")) as f:
        return int([l for l in f if not l.startswith("#")][0].split()[0])


def findings(doc, proc):
    return sorted((t["kind"], ",".join(sorted(f["flag"] for f in t["flags"])))
                  for t in doc["transports"] if t["process"] == proc)


def test_a_loop_of_processes_without_sockets_leaves_only_the_marker():
    # 40 processes that make no socket, then one that makes and closes a socket and one that
    # leaks one: two logs, the marker, the wrapper's two files, and a report of 2 processes. On
    # 33e646b every process (the shell and the 40 included) left a log: 43 of them.
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        keep, out = os.path.join(tmp, "run"), os.path.join(tmp, "r.json")
        script = 'i=0; while [ $i -lt 40 ]; do "$0" none || exit 1; i=$((i+1)); done; "$0" clean; "$0" leak'
        p, doc = sockleak_run(keep, "/bin/sh", "-c", script, LAZY, json_out=out)
        expect(p.returncode == 23, "status %d, expected the gate's 23\n%s" % (p.returncode, p.stderr))
        logs = logs_in(keep)
        expect(len(logs) == 2 and others_in(keep) == WRAPPER_FILES,
               "%d logs (expected 2: the processes that made a socket), besides them %s" % (len(logs), others_in(keep)))
        marker = os.lstat(os.path.join(keep, "preload-ran"))
        expect(stat.S_ISREG(marker.st_mode) and stat.S_IMODE(marker.st_mode) == 0o600 and marker.st_size == 0,
               "the marker: mode %o, %d bytes" % (marker.st_mode, marker.st_size))
        argvs = [pr["argv"] for pr in doc["processes"]]
        expect(argvs == [[LAZY, "clean"], [LAZY, "leak"]], "processes %s" % argvs)
        expect(doc["run"]["processes"] == 2 and doc["run"]["logs"] == 2 and doc["summary"]["transports_seen"] == 2,
               str(doc["run"]))
        expect(findings(doc, 0) == [] and findings(doc, 1) == [("udp4", "never-closed")],
               "findings %s" % [findings(doc, i) for i in range(2)])
        expect([f["function"] for f in doc["transports"][0]["opened_at"]][:2] == ["leak_udp", "main"],
               str(doc["transports"][0]["opened_at"]))
        expect(all(pr["exit"]["how"] == "exit" and pr["exit"]["status"] == 0 and pr["parent"] is None
                   for pr in doc["processes"]), str([pr["exit"] for pr in doc["processes"]]))
    return "40 silent processes: no log; 2 logs, 2 processes reported"


def test_forks_with_and_without_events():
    cases = {
        # mode: (logs, [(parent, forked) per process], [findings per process])
        # The parent's socket is closed before the fork: the child inherits nothing and records
        # nothing, so it has no log.
        "socket-fork-quiet": (1, [(None, False)], [[]]),
        # The child inherits an open socket: its log is made at the fork, as it always was (its
        # copy of the socket is evidence: --report-inherited judges it).
        "hold-fork-quiet": (2, [(None, False), (0, True)], [[], []]),
        # The parent records nothing: the child, which leaks, is the run's one process.
        "fork-child-socket": (1, [(None, True)], [[("udp4", "never-closed")]]),
        # A pending child of a parent with a log: its log, made at its socket, is its parent's
        # child in the tree.
        "closed-fork-child-socket": (2, [(None, False), (0, True)], [[], [("udp4", "never-closed")]]),
    }
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        for mode, (nlogs, tree, found) in cases.items():
            keep, out = os.path.join(tmp, mode), os.path.join(tmp, mode + ".json")
            p, doc = sockleak_run(keep, LAZY, mode, json_out=out)
            status = 23 if any(found) else 0
            expect(p.returncode == status, "%s: status %d, expected %d\n%s" % (mode, p.returncode, status, p.stderr))
            expect(len(logs_in(keep)) == nlogs and others_in(keep) == WRAPPER_FILES,
                   "%s: logs %s, besides them %s" % (mode, logs_in(keep), others_in(keep)))
            top = top_pid(keep)
            got = [(pr["parent"], pr["ppid"] == top and pr["argv"] == [LAZY, mode]) for pr in doc["processes"]]
            expect(all(pr["pid"] == top for pr, (_, forked) in zip(doc["processes"], got) if not forked),
                   "%s: pids %s, the command's %d" % (mode, [pr["pid"] for pr in doc["processes"]], top))
            expect(got == tree, "%s: processes (parent, forked) %s, expected %s" % (mode, got, tree))
            expect([findings(doc, i) for i in range(len(tree))] == found, "%s: findings %s" % (
                mode, [findings(doc, i) for i in range(len(tree))]))
        # The FORKED ids: the child's transport continues the parent's numbering (its 2 closed
        # sockets were #1 and #2), as when the child's log was made at the fork.
        with open(os.path.join(tmp, "closed-fork-child-socket.json")) as f:
            doc = json.load(f)
        ids = [(t["process"], t["id"]) for t in doc["transports"]]
        expect(ids == [(1, 3)] and doc["summary"]["transports_seen"] == 3, "transport ids %s, seen %d" % (
            ids, doc["summary"]["transports_seen"]))
        with open(os.path.join(tmp, "fork-child-socket.json")) as f:
            doc = json.load(f)
        expect([(t["process"], t["id"]) for t in doc["transports"]] == [(0, 1)],
               "a child of a parent that recorded nothing: %s" % doc["transports"])
    return "%d fork cases: logs, tree and ids as expected" % len(cases)


def test_exec_chains():
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        # Only the second image records: the first leaves no log.
        keep, out = os.path.join(tmp, "a"), os.path.join(tmp, "a.json")
        p, doc = sockleak_run(keep, LAZY, "exec-then-socket", json_out=out)
        expect(p.returncode == 23, "exec-then-socket: status %d\n%s" % (p.returncode, p.stderr))
        expect(len(logs_in(keep)) == 1 and others_in(keep) == WRAPPER_FILES, "exec-then-socket: %s" % os.listdir(keep))
        procs = [(pr["argv"][1:], pr["exec_of"], pr["exit"]["how"]) for pr in doc["processes"]]
        expect(procs == [(["leak"], None, "exit")] and findings(doc, 0) == [("udp4", "never-closed")],
               "exec-then-socket: %s %s" % (procs, findings(doc, 0)))
        # The first image records: the image it execs makes its log at its start, though it
        # records nothing, so that the chain's end is in the report. The exec marker is taken.
        keep, out = os.path.join(tmp, "b"), os.path.join(tmp, "b.json")
        p, doc = sockleak_run(keep, LAZY, "socket-then-exec", json_out=out)
        expect(p.returncode == 0, "socket-then-exec: status %d\n%s" % (p.returncode, p.stderr))
        expect(len(logs_in(keep)) == 2 and others_in(keep) == WRAPPER_FILES, "socket-then-exec: %s" % os.listdir(keep))
        procs = [(pr["argv"][1:], pr["exec_of"], pr["exit"]["how"]) for pr in doc["processes"]]
        expect(procs == [(["socket-then-exec"], None, "exec"), (["none"], 0, "exit")], "socket-then-exec: %s" % procs)
        # An exec that fails: the image goes on, and leaves no exec marker behind.
        keep, out = os.path.join(tmp, "c"), os.path.join(tmp, "c.json")
        p, doc = sockleak_run(keep, LAZY, "failed-exec", json_out=out)
        expect(p.returncode == 0 and len(logs_in(keep)) == 1 and others_in(keep) == WRAPPER_FILES,
               "failed-exec: status %d, %s\n%s" % (p.returncode, os.listdir(keep), p.stderr))
        expect([pr["exit"]["how"] for pr in doc["processes"]] == ["exit"], str(doc["processes"]))
    return "a silent first image: 1 log; a recording first image: 2 logs, the chain linked"


def test_a_run_that_recorded_nothing_passes_in_every_output():
    # A run whose processes all ran with the preload and recorded nothing: the gate passes and
    # every output says that no process recorded a transport. On 33e646b the shell and true each
    # left a log, and the report counted 2 processes.
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        keep = os.path.join(tmp, "run")
        p, _ = sockleak_run(keep, "/bin/sh", "-c", "/bin/true; true")
        said = "sockleak: no process recorded a transport: the preload ran"
        expect(p.returncode == 0 and said in p.stderr, "status %d\n%s" % (p.returncode, p.stderr))
        expect(logs_in(keep) == [] and others_in(keep) == WRAPPER_FILES, "kept: %s" % os.listdir(keep))
        j, s, x = (os.path.join(tmp, n) for n in ("r.json", "r.sarif", "r.xml"))
        r = run([REPORT, "--json", j, "--sarif", s, "--junit", x, keep])
        expect(r.returncode == 0 and r.stdout.startswith(said), "status %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        with open(j) as f:
            doc = json.load(f)
        expect(doc["processes"] == [] and doc["transports"] == [] and doc["gate"]["passed"] is True and
               doc["run"]["processes"] == 0 and doc["run"]["note"].startswith("no process recorded a transport"),
               str(doc["run"]))
        with open(s) as f:
            sarif = json.load(f)
        notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        expect(sarif["runs"][0]["results"] == [] and [n["level"] for n in notes] == ["note"] and
               notes[0]["message"]["text"].startswith("no process recorded a transport"), str(notes))
        with open(x) as f:
            xml = f.read()
        expect('tests="0" failures="0"' in xml and "no process recorded a transport" in xml, xml)
        # Its JSON as a baseline, against itself: nothing known, nothing new.
        r = run([REPORT, "--baseline", j, keep])
        expect(r.returncode == 0 and "0 known findings not shown, 0 fixed since, 0 new findings" in r.stdout,
               "baseline: %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        # A folder without the marker is still no run at all.
        os.unlink(os.path.join(keep, "preload-ran"))
        r = run([REPORT, keep])
        expect(r.returncode == 2 and "no process ran with the preload" in r.stderr, "%d %s" % (r.returncode, r.stderr))
    return "text, JSON, SARIF, JUnit and a baseline: passed, said"


def test_no_process_loaded_the_preload_fails():
    # A static launcher that takes LD_PRELOAD out of the environment: the program it runs leaks,
    # and nothing was tracked. No marker, no log: status 125 and the reason, not a pass.
    r = subprocess.run([SOCKLEAK, "run", "--", STATIC_EXEC, LAZY, "leak"], env=clean_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    expect(r.returncode == 125 and "loaded the preload (a static or set-user-ID program ignores LD_PRELOAD): "
           "nothing was checked" in r.stderr, "status %d\n%s" % (r.returncode, r.stderr))
    return "125, said"


def test_a_log_that_cannot_be_made_at_the_first_event_fails_the_gate():
    # emfile: every descriptor RLIMIT_NOFILE allows is taken but one, and the first socket takes
    # that one: the log cannot be created then (EMFILE), nor can the lost-evidence file be
    # opened; the loss is a symbolic link, read by the analyzer. fsize: RLIMIT_FSIZE 0 before the
    # first socket: no room for the log (EFBIG), and lost-evidence cannot grow; the same link.
    # The program sees what it sees bare (the same descriptor numbers, its status 0, no
    # SIGXFSZ although its stderr is a file), sockleak says why once, and the run fails.
    for mode, why in (("emfile", "cannot create an event log in %s: Too many open files"),
                      ("fsize", "cannot make room for the event log %s/sockleak.")):
        bare = subprocess.run([LAZY, mode], env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)
        expect(bare.returncode == 0 and bare.stdout.startswith("socket "), "%s bare: %d %r" % (
            mode, bare.returncode, bare.stdout))
        with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
            keep, err = os.path.join(tmp, "run"), os.path.join(tmp, "stderr.txt")
            with open(err, "w") as f:
                p, _ = sockleak_run(keep, LAZY, mode, stderr=f)
            with open(err) as f:
                stderr = f.read()
            reason = why % keep
            expect(p.stdout == bare.stdout, "%s: the program saw %r, bare %r" % (mode, p.stdout, bare.stdout))
            expect(p.returncode == 125, "%s: status %d, expected 125\n%s" % (mode, p.returncode, stderr))
            lost = [l for l in stderr.splitlines() if "EVIDENCE LOST" in l]
            expect(len(lost) == 1 and reason in lost[0], "%s: lost %s\n%s" % (mode, lost, stderr))
            expect("sockleak: evidence was lost (a process could not log every event)" in stderr, stderr)
            links = [n for n in os.listdir(keep) if n.startswith("lost-evidence.")]
            expect(logs_in(keep) == [] and len(links) == 1 and os.path.islink(os.path.join(keep, links[0])),
                   "%s: %s" % (mode, os.listdir(keep)))
            if mode == "emfile":  # said once, with the reason (fsize's stderr is a file it cannot grow)
                expect(stderr.count(reason) == 2 and
                       "sockleak: the event log could not be created; tracking stopped" in stderr, stderr)
    return "EMFILE and RLIMIT_FSIZE at the first socket: 125, the loss named"


def test_a_message_into_a_stderr_file_past_rlimit_fsize_does_not_kill_the_program():
    # The program lowers RLIMIT_FSIZE below the size of its stderr (a file), then records more
    # than its log can hold under the limit: the log stops and says so on stderr. On 33e646b that
    # message raised SIGXFSZ and killed the program (status 153, "done" never printed); now the
    # signal is held back around sockleak's writes, as SIGPIPE was, and the run fails on the
    # lost evidence.
    bare = subprocess.run([LAZY, "fsize-later"], env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    expect(bare.returncode == 0 and bare.stdout == "done\n", "bare: %d %r" % (bare.returncode, bare.stdout))
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        keep, err = os.path.join(tmp, "run"), os.path.join(tmp, "stderr.txt")
        with open(err, "w") as f:
            p, _ = sockleak_run(keep, LAZY, "fsize-later", stderr=f)
        with open(err) as f:
            stderr = f.read()
        expect(p.stdout == "done\n" and p.returncode == 125, "status %d (153: SIGXFSZ), stdout %r\n%s" % (
            p.returncode, p.stdout, stderr))
        expect("EVIDENCE LOST: process" in stderr and "the event log could not grow to 131072 bytes: File too large"
               in stderr, stderr)
    return "the program ran to its end; 125 on the lost evidence"


def test_a_log_that_cannot_be_created_is_lost_evidence():
    # A tmpfs with inodes for the run folder, its two files, the marker and one log: the second
    # process's log cannot be created (ENOSPC). On 33e646b nothing recorded that loss (a failed
    # create was only said on stderr), and the run passed with status 0 while the second
    # process's leak went unseen; now it is written to lost-evidence and the run fails. Needs
    # root for the mount, as tests/test_gate_eventlog.py.
    with tempfile.TemporaryDirectory(prefix="sockleak-lazy-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        script = ("mount -t tmpfs -o size=1m,nr_inodes=6,mode=0700 sockleak-test %s || exit 99\n"
                  "TMPDIR=%s %s run -- /bin/sh -c '\"$0\" clean; \"$0\" leak' %s; echo \"status $?\"" % (
                      mnt, mnt, SOCKLEAK, LAZY))
        p = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=clean_env(), timeout=120)
        expect(p.returncode != 99, "cannot mount a tmpfs (this test needs root): " + p.stderr)
        expect(p.stdout.splitlines() == ["status 125"], "%s\n%s" % (p.stdout, p.stderr))
        lost = [l for l in p.stderr.splitlines() if "EVIDENCE LOST" in l]
        expect(len(lost) == 1 and "cannot create an event log in %s/sockleak-run-" % mnt in lost[0] and
               lost[0].endswith(": No space left on device"), "lost %s\n%s" % (lost, p.stderr))
        expect(p.stderr.count("sockleak: cannot create an event log in") == 1, p.stderr)
    return "ENOSPC for the second log: 125, the loss named"
