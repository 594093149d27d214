"""Runs the test programs in testapps/ under the preload and checks their reports exactly.

Each testapps/NAME.c states its expectations in comments:

  // EXPECT: KIND ROLE FLAG[,FLAG...] [@FUNCTION] [xCOUNT] [proc=main|child]
      COUNT transports (default 1) of that kind and role, with exactly that set of flags, made
      in a stack that names FUNCTION. Every transport reported must match one EXPECT line, and
      every line must match exactly its count: a false alarm fails as surely as a miss.
  // EXPECT-NONE                  nothing may be reported
  // EXPECT-EXIT: N               the exit status
  // EXPECT-STDERR: TEXT          TEXT appears on stderr
  // EXPECT-NO-STDERR             stderr stays empty
  // EXPECT-STDOUT: TEXT          TEXT appears on stdout
  // OPTIONS: a=1:b=2             added to SOCKLEAK_OPTIONS
  // ARGS: ...                    command-line arguments
  // TIMEOUT: SECONDS             (default 60)
  // PROCESSES: N                 JSON reports expected (one per process that exits)

The JSON report is written with json=DIR/report.%p.json, one per process.
"""

import glob
import json
import os
import re
import shlex
import subprocess
import tempfile

from common import ROOT, BUILD, PRELOAD, Failure

EXPECT_RE = re.compile(r"^\s*//\s*(EXPECT(?:-[A-Z]+)*|OPTIONS|ARGS|TIMEOUT|PROCESSES)\s*:?\s*(.*)$")


class Expectation:
    def __init__(self, text):
        self.text = text
        words = text.split()
        if len(words) < 3:
            raise ValueError("EXPECT needs KIND ROLE FLAGS: %r" % text)
        self.kind, self.role = words[0], words[1]
        self.flags = frozenset(words[2].split(","))
        self.function = None
        self.count = 1
        self.proc = "any"
        for w in words[3:]:
            if w.startswith("@"):
                self.function = w[1:]
            elif w.startswith("x") and w[1:].isdigit():
                self.count = int(w[1:])
            elif w.startswith("proc="):
                self.proc = w[5:]
            else:
                raise ValueError("unknown word %r in EXPECT %r" % (w, text))
        self.matched = 0

    def matches(self, t, is_main, match_function=True):
        if t["kind"] != self.kind or (t["role"] or "none") != self.role:
            return False
        if frozenset(f["flag"] for f in t["flags"]) != self.flags:
            return False
        if self.proc == "main" and not is_main or self.proc == "child" and is_main:
            return False
        if self.function and match_function:
            names = [fr["function"] for fr in t["opened_at"]]
            names += [fr["function"] for fr in (t["python_traceback"] or [])]
            if self.function not in names:
                return False
        return True


def parse_spec(path):
    spec = {"expect": [], "none": False, "exit": None, "stderr": [], "stdout": [], "no_stderr": False,
            "options": "", "args": [], "timeout": 60, "processes": None}
    with open(path) as f:
        for line in f:
            m = EXPECT_RE.match(line)
            if not m:
                continue
            key, val = m.group(1), m.group(2).strip()
            if key == "EXPECT":
                spec["expect"].append(Expectation(val))
            elif key == "EXPECT-NONE":
                spec["none"] = True
            elif key == "EXPECT-EXIT":
                spec["exit"] = int(val)
            elif key == "EXPECT-STDERR":
                spec["stderr"].append(val)
            elif key == "EXPECT-STDOUT":
                spec["stdout"].append(val)
            elif key == "EXPECT-NO-STDERR":
                spec["no_stderr"] = True
            elif key == "OPTIONS":
                spec["options"] = val
            elif key == "ARGS":
                spec["args"] = shlex.split(val)
            elif key == "TIMEOUT":
                spec["timeout"] = int(val)
            elif key == "PROCESSES":
                spec["processes"] = int(val)
            else:
                raise ValueError("%s: unknown directive %s" % (path, key))
    if spec["exit"] is None:
        raise ValueError("%s: no EXPECT-EXIT line" % path)
    if not spec["expect"] and not spec["none"]:
        raise ValueError("%s: neither EXPECT nor EXPECT-NONE" % path)
    return spec


def check_app(name, preload=PRELOAD, extra_env=None, extra_options="", match_function=True):
    """Runs testapps/NAME under the preload (or another LD_PRELOAD list, e.g. a sanitizer's
    runtime and a sanitized build, with extra_env) and checks its report against the spec
    (without the @FUNCTION part when match_function is false: a run without stacks)."""
    src = os.path.join(ROOT, "testapps", name + ".c")
    spec = parse_spec(src)
    exe = os.path.join(BUILD, "testapps", name)
    with tempfile.TemporaryDirectory(prefix="sockleak-test-") as tmp:
        opts = "json=%s/report.%%p.json" % tmp
        if spec["options"]:
            opts += ":" + spec["options"].replace("$TMP", tmp)
        if extra_options:
            opts += ":" + extra_options
        env = dict(os.environ, LD_PRELOAD=preload, SOCKLEAK_OPTIONS=opts, TEST_TMP=tmp)
        env.update({k: v.replace("$TMP", tmp) for k, v in (extra_env or {}).items()})
        args = [a.replace("$TMP", tmp) for a in spec["args"]]
        try:
            p = subprocess.run([exe] + args, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=spec["timeout"])
        except subprocess.TimeoutExpired:
            raise Failure("timed out after %d s" % spec["timeout"])
        stderr = p.stderr.decode(errors="replace")
        problems = []
        if p.returncode != spec["exit"]:
            problems.append("exit status %d, expected %d" % (p.returncode, spec["exit"]))
        reports = []
        for path in sorted(glob.glob(os.path.join(tmp, "report.*.json"))):
            with open(path) as f:
                try:
                    reports.append(json.load(f))
                except ValueError as e:
                    raise Failure("%s is not valid JSON: %s" % (os.path.basename(path), e))
        if not reports:
            problems.append("no JSON report written")
        if spec["processes"] is not None and len(reports) != spec["processes"]:
            problems.append("%d JSON reports, expected %d" % (len(reports), spec["processes"]))
        # The main process is the one whose parent is this test runner.
        main_pids = {r["pid"] for r in reports if r["ppid"] == os.getpid()}
        actual = []
        for r in reports:
            for t in r["transports"]:
                actual.append((t, r["pid"] in main_pids))
        unmatched = []
        for t, is_main in actual:
            for e in spec["expect"]:
                if e.matched < e.count and e.matches(t, is_main, match_function):
                    e.matched += 1
                    break
            else:
                unmatched.append(t)
        for e in spec["expect"]:
            if e.matched != e.count:
                problems.append("EXPECT %s: matched %d, expected %d" % (e.text, e.matched, e.count))
        for t in unmatched:
            problems.append("unexpected report: %s %s %s (fd %s) made at %s" % (
                t["kind"], t["role"], ",".join(f["flag"] for f in t["flags"]), t["fd"],
                " < ".join(str(fr["function"]) for fr in t["opened_at"][:4])))
        for text in spec["stderr"]:
            if text not in stderr:
                problems.append("stderr lacks %r" % text)
        stdout = p.stdout.decode(errors="replace")
        for text in spec["stdout"]:
            if text not in stdout:
                problems.append("stdout lacks %r" % text)
        if spec["no_stderr"] and stderr:
            problems.append("stderr should be empty")
        errors = sum(r["summary"]["errors"] for r in reports)
        if actual and errors and "SUMMARY: sockleak:" not in stderr and "log_path" not in spec["options"]:
            problems.append("errors reported in JSON but no text SUMMARY on stderr")
        if problems:
            raise Failure("; ".join(problems) + "\n--- stderr ---\n" + stderr[-3000:])
    return "%d transport%s as expected" % (len(actual), "" if len(actual) == 1 else "s")


def app_names():
    return sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(ROOT, "testapps", "*.c"))
                  if "// EXPECT" in open(p).read())
