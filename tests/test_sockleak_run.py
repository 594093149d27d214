"""scripts/sockleak: 'sockleak run' over a process tree (a killed process and an orphan
included), the exit status CI gates on, the environment it gives the command, 'sockleak report'
on a kept run, SARIF checked against the 2.1.0 schema, JUnit read back by a JUnit parser, and
the help and manual page."""

import glob
import json
import os
import re
import signal
import stat
import subprocess
import tarfile
import tempfile

from common import BUILD, PRELOAD, ROOT, SOCKLEAK, Failure, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
LEAKY = os.path.join(PROGS, "leaky")
HOLDER = os.path.join(PROGS, "holder")
SPAWN_TREE = os.path.join(PROGS, "spawn_tree")
ORPHAN = os.path.join(PROGS, "orphan_killed")
SCHEMA = os.path.join(BUILD, "sarif-2.1.0-rtm.5.json")
SCHEMA_PACKAGE = "@microsoft/jest-sarif@1.0.0-beta.0"
SCHEMA_MEMBER = "package/lib/schemas/sarif-2.1.0-rtm.5.json"


def sockleak(*args, env=None, timeout=120, cwd=None):
    """Runs scripts/sockleak; by default without the caller's SOCKLEAK_OPTIONS and LD_PRELOAD."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}
    return run([SOCKLEAK] + list(args), env=env, timeout=timeout, cwd=cwd)


def kinds(doc, proc=None):
    return sorted((t["kind"], t["role"] or "none", ",".join(sorted(f["flag"] for f in t["flags"])))
                  for t in doc["transports"] if proc is None or t["process"] == proc)


def line_of(path, text):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise Failure("%s lacks %r" % (path, text))


# ---- exit status ----

def test_run_exits_with_the_commands_status_or_the_gates():
    cases = [
        (["--", LEAKY, "exit=3"], 3, "the command's own status, nothing found"),
        (["--", LEAKY, "udp", "exit=3"], 23, "the gate fails: 23"),
        (["--fail-on", "never", "--", LEAKY, "udp", "exit=3"], 3, "the gate off: the command's status"),
        (["--exitcode", "42", "--", LEAKY, "udp"], 42, "--exitcode"),
        (["--", LEAKY, "warn"], 0, "a warning does not fail the gate"),
        (["--fail-on", "warning", LEAKY, "warn"], 23, "--fail-on warning"),
        (["--", "/bin/sh", "-c", "kill -9 $$"], 137, "a command killed by SIGKILL: 128+9"),
        (["--", "/nonexistent/program"], 127, "a command that does not exist"),
        (["--", "/etc/passwd"], 126, "a command that cannot be run"),
        (["--jsn", "x", "--", LEAKY], 125, "a usage error"),
        (["--", os.path.join(PROGS, "static_true")], 125, "nothing was tracked (a static program)"),
        ([], 125, "no command"),
    ]
    for args, status, what in cases:
        r = sockleak("run", *args)
        expect(r.returncode == status, "%s: sockleak run %s: status %d, expected %d\n%s" % (
            what, " ".join(args), r.returncode, status, r.stderr))
    r = sockleak("run", "--jsn", "x", "--", LEAKY)
    expect("sockleak: run: unknown option '--jsn' (sockleak --help lists the options)" in r.stderr, r.stderr)
    r = sockleak("run", "--", os.path.join(PROGS, "static_true"))
    expect("loaded the preload (a static or set-user-ID program ignores LD_PRELOAD): nothing was checked"
           in r.stderr, r.stderr)
    r = sockleak("run", "--", "/nonexistent/program")
    expect("sockleak: cannot run /nonexistent/program: command not found" in r.stderr, r.stderr)
    return "%d cases" % len(cases)


# ---- one report for everything the command started ----

def test_run_reports_a_whole_process_tree_with_its_killed_processes():
    with tempfile.TemporaryDirectory(prefix="sockleak-run-") as tmp:
        out = os.path.join(tmp, "r.json")
        r = sockleak("run", "--json", out, "--", SPAWN_TREE, cwd=tmp)
        expect(r.returncode == 23, "status %d\n%s" % (r.returncode, r.stderr))
        doc = json.load(open(out))
        # spawn_tree's child 2 records nothing: no log, not listed (issue 12).
        expect(len(doc["processes"]) == 5 and doc["run"]["killed"] == 1, str(doc["run"]))
        expect(kinds(doc) == sorted([("udp4", "socket", "reader-not-removed"), ("udp4", "socket", "never-closed"),
                                     ("tcp4", "listener", "never-closed"), ("unix-stream", "pair", "never-closed"),
                                     ("unix-stream", "pair", "never-closed"), ("tcp4", "socket", "process-killed")]),
               str(kinds(doc)))
        expect(doc["pid"] == doc["processes"][0]["pid"] and doc["processes"][0]["exit"]["how"] == "exec",
               "the top-level process is the command's first image")
        expect("Processes: 5 (1 died without exiting)" in r.stderr, "the text report goes to stderr:\n" + r.stderr)
        expect(r.stdout == "", "nothing on stdout: %r" % r.stdout)
        # An orphan reparented to sockleak: its killer's signal is known.
        r = sockleak("run", "--json", out, "--", ORPHAN, cwd=tmp)
        expect(r.returncode == 0, "warnings only: %d\n%s" % (r.returncode, r.stderr))
        doc = json.load(open(out))
        killed = [i for i, p in enumerate(doc["processes"]) if p["exit"]["how"] == "killed"]
        expect(len(killed) == 1 and doc["processes"][killed[0]]["exit"]["signal"] == 9, str(doc["processes"]))
        expect(kinds(doc, killed[0]) == [("udp4", "socket", "process-killed")], str(kinds(doc)))
        # fd 3, as without sockleak (gone[0] closed): libunwind's pipe no longer takes 3 and 4.
        expect("open (fd 3) when the process was killed by signal 9" in r.stderr, r.stderr)
        expect(re.search(r"^  +\d+ fork, killed by SIGKILL, 1 warning: ", r.stderr, re.M), r.stderr)
    return "5 processes, 1 killed; an orphan killed by SIGKILL"


def test_run_a_command_that_is_killed():
    """The command itself killed from outside while sockleak runs it: its status is 128+9, its
    open transports are process-killed, with the signal."""
    with tempfile.TemporaryDirectory(prefix="sockleak-runkill-") as tmp:
        out = os.path.join(tmp, "r.json")
        env = {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}
        p = subprocess.Popen([SOCKLEAK, "run", "--json", out, "--", HOLDER], env=env, cwd=tmp,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().split()
            expect(line and line[0] == "ready", "holder: %r" % line)
            os.kill(int(line[1]), signal.SIGKILL)
            _, err = p.communicate(timeout=60)
        finally:
            p.kill()
        expect(p.returncode == 137, "status %d, expected 137\n%s" % (p.returncode, err))
        doc = json.load(open(out))
        expect(doc["exit"] == {"how": "killed", "status": None, "signal": 9}, str(doc["exit"]))
        expect(len(doc["transports"]) == 5 and all(f["flag"] == "process-killed" and "killed by signal 9" in f["detail"]
                                                    for t in doc["transports"] for f in t["flags"]),
               str(doc["transports"]))
    return "137, 5 transports process-killed by signal 9"


# ---- the environment the command gets ----

def test_run_sets_the_environment_and_keeps_the_users():
    with tempfile.TemporaryDirectory(prefix="sockleak-env-") as tmp:
        keep = os.path.join(tmp, "kept")
        env = dict(os.environ, LD_PRELOAD="libc.so.6", SOCKLEAK_OPTIONS="verbosity=0")
        show = 'echo "LD_PRELOAD=$LD_PRELOAD"; echo "SOCKLEAK_OPTIONS=$SOCKLEAK_OPTIONS"'
        r = sockleak("run", "--keep", keep, "--", "/bin/sh", "-c", show, env=env)
        expect(r.returncode == 0, "status %d %s" % (r.returncode, r.stderr))
        expect("LD_PRELOAD=%s:libc.so.6\n" % PRELOAD in r.stdout, r.stdout)
        expect("SOCKLEAK_OPTIONS=verbosity=0:run_dir=%s:report=0:exitcode=0\n" % keep in r.stdout, r.stdout)
        mode = stat.S_IMODE(os.stat(keep).st_mode)
        expect(mode == 0o700, "run directory mode %o" % mode)
        # The shell records no event: no log, the marker that the preload ran (issue 12).
        expect(sorted(os.listdir(keep)) == ["exit-status", "lost-evidence", "preload-ran"],
               "kept: %s" % os.listdir(keep))
        # A directory that holds another run is not mixed with this one.
        r = sockleak("run", "--keep", keep, "--", "/bin/true")
        expect(r.returncode == 125 and "exists and is not an empty directory" in r.stderr, r.stderr)
        # report_inherited=1 in the user's options is passed on to the analysis.
        env = dict(os.environ, SOCKLEAK_OPTIONS="report_inherited=1")
        env.pop("LD_PRELOAD", None)
        out = os.path.join(tmp, "inh.json")
        r = sockleak("run", "--json", out, "--", os.path.join(BUILD, "testapps", "fork_report_inherited"), env=env)
        doc = json.load(open(out))
        inherited = [t for t in doc["transports"] if t["inherited"]]
        expect(inherited, "report_inherited=1 judged nothing inherited: %s" % kinds(doc))
        # Without --keep, nothing is left behind (in a TMPDIR of its own: other tests run
        # sockleak at the same time).
        private = os.path.join(tmp, "private-tmp")
        os.mkdir(private)
        sockleak("run", "--", LEAKY, env=dict(os.environ, TMPDIR=private))
        left = os.listdir(private)
        expect(left == [], "temporary run directories left: %s" % left)
    return "LD_PRELOAD prepended, SOCKLEAK_OPTIONS appended, 0700"


def test_report_analyzes_a_kept_run_again():
    with tempfile.TemporaryDirectory(prefix="sockleak-again-") as tmp:
        keep = os.path.join(tmp, "run")
        r = sockleak("run", "--keep", keep, "-q", "--", LEAKY, "udp", "tcp")
        expect(r.returncode == 23 and r.stderr == "", "quiet run: %d %r" % (r.returncode, r.stderr))
        out = os.path.join(tmp, "again.json")
        r = sockleak("report", keep, "--json", out)
        expect(r.returncode == 23, "status %d %s" % (r.returncode, r.stderr))
        expect("SUMMARY: sockleak: 2 errors, 0 warnings in 2 of 2 transports" in r.stdout, r.stdout)
        expect(kinds(json.load(open(out))) == [("tcp4", "listener", "never-closed"), ("udp4", "socket", "never-closed")],
               "findings")
        r = sockleak("report", "--baseline", out, keep)
        expect(r.returncode == 0, "everything in the baseline: %d" % r.returncode)
        r = sockleak("report", os.path.join(tmp, "nothing"))
        expect(r.returncode == 1 and "is not a directory" in r.stderr, r.stderr)
    return "23 again, 0 against its own baseline"


# ---- SARIF ----

def sarif_schema():
    """The SARIF 2.1.0 schema, fetched once from the npm registry into build/."""
    if not os.path.exists(SCHEMA):
        with tempfile.TemporaryDirectory(prefix="sockleak-npm-") as tmp:
            r = run(["npm", "pack", "--silent", SCHEMA_PACKAGE], cwd=tmp, timeout=180,
                    env=dict(os.environ, npm_config_cache=os.path.join(tmp, "cache"), npm_config_update_notifier="false"))
            tgz = glob.glob(tmp + "/*.tgz")
            expect(r.returncode == 0 and tgz, "npm pack %s failed (the registry must be reachable):\n%s" % (
                SCHEMA_PACKAGE, r.stderr))
            with tarfile.open(tgz[0]) as t:
                data = t.extractfile(SCHEMA_MEMBER).read()
        with open(SCHEMA + ".tmp.%d" % os.getpid(), "wb") as f:
            f.write(data)
        os.replace(SCHEMA + ".tmp.%d" % os.getpid(), SCHEMA)
    with open(SCHEMA) as f:
        return json.load(f)


def test_sarif_is_valid_2_1_0_with_a_location_per_finding():
    import jsonschema
    schema = sarif_schema()
    validator = jsonschema.Draft4Validator(schema)
    with tempfile.TemporaryDirectory(prefix="sockleak-sarif-") as tmp:
        base = os.path.join(tmp, "base.json")
        sockleak("run", "-q", "--json", base, "--", LEAKY, "udp", cwd=ROOT)
        sarif = os.path.join(tmp, "r.sarif")
        r = sockleak("run", "--sarif", sarif, "--baseline", base, "--", LEAKY, "udp", "epoll", "warn", cwd=ROOT)
        expect(r.returncode == 23, "status %d %s" % (r.returncode, r.stderr))
        log = json.load(open(sarif))
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
        expect(not errors, "SARIF fails the 2.1.0 schema: %d errors, first: %s at %s" % (
            len(errors), errors[0].message if errors else "", list(errors[0].path) if errors else ""))
        expect(log["version"] == "2.1.0" and len(log["runs"]) == 1, "one run")
        run0 = log["runs"][0]
        rules = [x["id"] for x in run0["tool"]["driver"]["rules"]]
        expect("never-closed" in rules and "process-killed" in rules and len(rules) == 8, str(rules))
        results = run0["results"]
        got = sorted((x["ruleId"], x["level"], x.get("baselineState")) for x in results)
        expect(got == [("closed-while-registered", "warning", "new"), ("never-closed", "error", "new"),
                       ("never-closed", "error", "unchanged"), ("reader-not-removed", "error", "new")], str(got))
        src = os.path.join(ROOT, "analyzer", "testprogs", "leaky.c")
        for x in results:
            expect(x["ruleIndex"] == rules.index(x["ruleId"]), "ruleIndex")
            loc = x["locations"][0]["physicalLocation"]
            expect(loc["artifactLocation"] == {"uri": "analyzer/testprogs/leaky.c", "uriBaseId": "SRCROOT"},
                   "a relative location: %s" % loc)
            expect(len(x["partialFingerprints"]["sockleakFinding/v1"]) == 16, "fingerprint")
            expect(x["stacks"][0]["frames"], "the creation stack")
        udp = [x for x in results if x["baselineState"] == "unchanged"][0]
        expect(udp["locations"][0]["physicalLocation"]["region"]["startLine"] ==
               line_of(src, "CHECK(socket(AF_INET, SOCK_DGRAM, 0) >= 0);"), "the line of the socket() call")
        expect(udp["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "leak_udp", str(udp["locations"]))
        rnr = [x for x in results if x["ruleId"] == "reader-not-removed"][0]
        expect(rnr["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] ==
               line_of(src, "CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);"), "the registration's line")
        expect(run0["originalUriBaseIds"]["SRCROOT"]["uri"] == "file://%s/" % ROOT, str(run0["originalUriBaseIds"]))
        expect(run0["invocations"][0]["executionSuccessful"] is True, "executionSuccessful")
    return "%d results valid against the 2.1.0 schema" % len(results)


# ---- JUnit ----

def test_junit_is_read_back_by_a_junit_parser():
    from junitparser import JUnitXml, Failure as JFailure
    with tempfile.TemporaryDirectory(prefix="sockleak-junit-") as tmp:
        xml = os.path.join(tmp, "r.xml")
        r = sockleak("run", "--junit", xml, "--", SPAWN_TREE, cwd=tmp)
        expect(r.returncode == 23, "status %d" % r.returncode)
        suites = list(JUnitXml.fromfile(xml))
        expect(len(suites) == 1, "one test suite")
        suite = suites[0]
        cases = list(suite)
        # One per process with an event log: spawn_tree's child 2 records nothing (issue 12).
        expect(suite.tests == 5 and len(cases) == 5, "one test case per process: %d" % len(cases))
        failed = [c for c in cases if any(isinstance(x, JFailure) for x in c.result)]
        expect(suite.failures == 4 and len(failed) == 4, "4 processes with errors: %d" % len(failed))
        names = [c.name for c in cases]
        expect(len(set(names)) == 5, "unique names: %s" % names)
        expect(names[0] == SPAWN_TREE and names[1] == SPAWN_TREE + " #2" and names[3] == SPAWN_TREE + " stage2",
               str(names))
        expect(all(c.classname == "sockleak.spawn_tree" for c in cases), "classname")
        messages = sorted(x.message for c in failed for x in c.result)
        expect(messages == ["1 finding: never-closed", "1 finding: never-closed", "1 finding: reader-not-removed",
                            "2 findings: never-closed, never-closed"], str(messages))
        killed = cases[4]
        expect(not killed.result and "process-killed (warning)" in (killed.system_out or ""),
               "the killed child passes, its warning in system-out: %r" % killed.system_out)
        body = [x.text for x in failed[1].result][0]
        expect("never-closed (error): still open" in body and "in leak_udp" in body, body)
        # --fail-on warning: the killed child fails too.
        r = sockleak("run", "--junit", xml, "--fail-on", "warning", "--", SPAWN_TREE, cwd=tmp)
        suite = list(JUnitXml.fromfile(xml))[0]
        expect(suite.failures == 5, "with --fail-on warning: %d failures" % suite.failures)
    return "5 test cases, 4 failed"


# ---- help and manual ----

def test_help_and_manual_page():
    r = sockleak("--help")
    expect(r.returncode == 0, "status %d" % r.returncode)
    for text in ("Usage: sockleak [OPTION]... PROGRAM [ARG]...", "sockleak run [OPTION]... [--] COMMAND [ARG]...",
                 "sockleak report", "--keep DIR",
                 "--fail-on LEVEL", "--baseline FILE", "Exit status of run"):
        expect(text in r.stdout, "--help lacks %r" % text)
    r = sockleak("run", "--help")
    expect(r.returncode == 0 and "Usage: sockleak [OPTION]... PROGRAM" in r.stdout, "run --help")
    r = sockleak("bogus-program-name")
    expect(r.returncode == 127 and "sockleak: cannot run bogus-program-name: command not found" in r.stderr,
           r.stderr)
    r = sockleak("--version")
    expect(r.returncode == 0 and r.stdout.startswith("sockleak "), r.stdout)
    page = os.path.join(ROOT, "docs", "sockleak.1")
    r = run(["groff", "-man", "-Tutf8", "-ww", "-z", page])
    expect(r.returncode == 0 and r.stderr == "", "groff warns about docs/sockleak.1:\n%s" % r.stderr)
    r = run(["groff", "-man", "-Tutf8", page], env=dict(os.environ, MANWIDTH="80"))
    text = re.sub(r".\x08", "", r.stdout)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES",
                    "EXAMPLES", "SEE ALSO"):
        expect(re.search(r"^%s$" % section, text, re.M), "the manual lacks a %s section" % section)
    # Every option --help names is in the manual.
    for opt in re.findall(r"^  (--[a-z-]+)", sockleak("--help").stdout, re.M):
        expect(opt in text.replace("\u2010", "-"), "the manual does not describe %s" % opt)
    return "help, version, manual"
