"""SOCKLEAK_OPTIONS: parsing, help, errors, and the options that route the report."""

import glob
import json
import os
import tempfile

from common import BUILD, expect, preload_env, run

APP = os.path.join(BUILD, "testapps", "never_closed")
CLEAN = os.path.join(BUILD, "testapps", "clean_client_server")


def test_unknown_option_stops_with_message():
    p = run([APP], env=preload_env("exitcode=5:jsn=/tmp/x"))
    expect(p.returncode == 1, "exit status %d, expected 1" % p.returncode)
    expect("sockleak: SOCKLEAK_OPTIONS: unknown option 'jsn' (help=1 lists the options)" in p.stderr, p.stderr)
    expect("Transport" not in p.stderr, "the program must not have run")


def test_malformed_values():
    cases = {
        "exitcode=abc": "option 'exitcode' takes a whole number (0 or more), not 'abc'",
        "exitcode=300": "option 'exitcode' is an exit status, 0 to 255, not 300",
        "report=maybe": "option 'report' takes 0 or 1, not 'maybe'",
        "stack_depth=65": "option 'stack_depth' is at most 64, not 65",
        "json": "'json' is not name=value",
        "exitcode=": "option 'exitcode' has no value",
        "log_path='unterminated": "option 'log_path': unterminated quote",
    }
    for text, message in cases.items():
        p = run([APP], env=preload_env(text))
        expect(p.returncode == 1, "%s: exit status %d, expected 1" % (text, p.returncode))
        expect(message in p.stderr, "%s: stderr lacks %r:\n%s" % (text, message, p.stderr))


def test_help_lists_every_option_and_runs_the_program():
    p = run([CLEAN], env=preload_env("help=1"))
    expect(p.returncode == 0, "exit status %d" % p.returncode)
    for name in ("help", "exitcode", "log_path", "json", "report", "stack_depth", "epoll_stacks",
                 "report_inherited", "symbolize", "suppressions", "tls", "python", "run_dir",
                 "verbosity", "fail_alloc_after"):
        expect("\n  %s " % name in p.stderr, "help lacks %s:\n%s" % (name, p.stderr))


def test_log_path_and_json_with_pid():
    with tempfile.TemporaryDirectory() as tmp:
        opts = "log_path=%s/text.%%p.log:json='%s/r:%%p.json'" % (tmp, tmp)
        p = run([APP], env=preload_env(opts), cwd=tmp)
        expect(p.returncode == 23, "exit status %d" % p.returncode)
        expect(p.stderr == "", "stderr should be empty with log_path: %r" % p.stderr)
        logs = glob.glob(tmp + "/text.*.log")
        expect(len(logs) == 1, "one text report expected, found %s" % logs)
        pid = logs[0].split(".")[-2]
        text = open(logs[0]).read()
        expect("never-closed (error)" in text and "SUMMARY: sockleak: 1 error" in text, text)
        with open("%s/r:%s.json" % (tmp, pid)) as f:
            report = json.load(f)
        expect(report["pid"] == int(pid), "pid in JSON %s, file says %s" % (report["pid"], pid))


def test_clean_program_prints_nothing_unless_verbose():
    p = run([CLEAN], env=preload_env())
    expect(p.returncode == 0 and p.stderr == "", "clean run: status %d, stderr %r" % (p.returncode, p.stderr))
    p = run([CLEAN], env=preload_env("verbosity=1"))
    expect(p.stderr.strip() == "sockleak: 101 transports, all finished properly", repr(p.stderr))


def test_report_zero_keeps_json_and_exit_code():
    with tempfile.TemporaryDirectory() as tmp:
        p = run([APP], env=preload_env("report=0:json=%s/r.json" % tmp))
        expect(p.returncode == 23 and p.stderr == "", "status %d stderr %r" % (p.returncode, p.stderr))
        report = json.load(open(tmp + "/r.json"))
        expect(report["summary"]["errors"] == 1, str(report["summary"]))


def test_stack_depth_zero_and_no_symbolize():
    with tempfile.TemporaryDirectory() as tmp:
        run([APP], env=preload_env("stack_depth=0:json=%s/a.json" % tmp))
        a = json.load(open(tmp + "/a.json"))
        expect(a["transports"][0]["opened_at"] == [], "stack_depth=0 still recorded a stack")
        run([APP], env=preload_env("symbolize=0:json=%s/b.json" % tmp))
        b = json.load(open(tmp + "/b.json"))
        frames = b["transports"][0]["opened_at"]
        expect(frames and all(f["function"] is None and f["module"] for f in frames),
               "symbolize=0 should leave module+offset only: %s" % frames[:2])


def test_unwritable_report_path_says_so_once():
    p = run([APP], env=preload_env("log_path=/nonexistent/dir/x.log"))
    expect(p.stderr.count("sockleak: cannot write the report to /nonexistent/dir/x.log") == 1, p.stderr)
    expect(p.returncode == 23, "the verdict still stands: status %d" % p.returncode)


def test_text_report_carries_no_control_characters():
    # argv[0] (like paths and function names) comes from the program: it must not be able to
    # send an escape sequence to the terminal reading the report.
    import subprocess
    p = subprocess.run(["\x1b[2Jevil\x07name"], executable=APP, env=preload_env(), capture_output=True,
                       text=True, timeout=30)
    expect(p.returncode == 23, "status %d" % p.returncode)
    expect("\x1b" not in p.stderr and "\x07" not in p.stderr, repr(p.stderr[:200]))
    expect("?[2Jevil?name" in p.stderr, "argv[0] shown with its control characters replaced: %r" % p.stderr[:200])


def test_report_says_when_symbols_cannot_be_read():
    # Without a working libdw, frames keep their module and offset, and the report says why once.
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "libdw.so.1"), "w") as f:
            f.write("not a library\n")
        p = run([APP], env=preload_env("json=%s/r.json" % tmp, LD_LIBRARY_PATH=tmp))
        frames = json.load(open(tmp + "/r.json"))["transports"][0]["opened_at"]
    expect(p.returncode == 23, "status %d" % p.returncode)
    note = "sockleak: note: libdw.so.1 (elfutils) could not be loaded: frames show module+offset only"
    expect(p.stderr.count(note) == 1, p.stderr)
    expect(frames and all(f["function"] is None and f["module"] for f in frames), str(frames[:2]))
