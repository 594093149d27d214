"""Issue 13 item 5: under a Python traceback the text report folds the interpreter's own native
frames into one "... N interpreter frames" line (native_frames=all shows them); the JSON keeps
every frame; the analyzer (sockleak run) folds the same way."""

import json
import os
import re
import tempfile

from common import PYTHON, SOCKLEAK, expect, preload_env, run

SCRIPT = """\
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
"""


def opened_at_lines(text):
    """The lines under the first transport's "opened at:" heading."""
    lines = text.splitlines()
    i = lines.index("  opened at:")
    out = []
    for line in lines[i + 1:]:
        if not line.startswith("    "):
            break
        out.append(line)
    return out


def leak(tmp, options):
    script = os.path.join(tmp, "leak.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    p = run([PYTHON, script], env=preload_env("json=%s/r.json:%s" % (tmp, options)), timeout=60)
    expect(p.returncode == 23, "exit status %d\n%s" % (p.returncode, p.stderr))
    report = json.load(open(os.path.join(tmp, "r.json")))
    expect(len(report["transports"]) == 1, "one transport: %s" % report["transports"])
    return p.stderr, report["transports"][0]


def test_python_native_frames_folded_at_the_interpreter():
    with tempfile.TemporaryDirectory() as tmp:
        text, t = leak(tmp, "")
    frames = t["opened_at"]
    expect(len(frames) >= 2, "the JSON keeps every frame: %s" % frames)
    expect(all(os.path.basename(f["module"]).startswith("python3") for f in frames),
           "Debian's _socket is built into the interpreter: %s" % [f["module"] for f in frames])
    expect('      File "%s", line 2, in <module>' % os.path.join(tmp, "leak.py") in text.splitlines(),
           "the traceback stays:\n" + text)
    lines = opened_at_lines(text)
    expect(lines == ["    ... %d interpreter frames" % len(frames)],
           "folded to one line (%d frames in the JSON):\n%s" % (len(frames), text))


def test_python_native_frames_all_shows_every_frame():
    with tempfile.TemporaryDirectory() as tmp:
        text, t = leak(tmp, "native_frames=all")
    frames = t["opened_at"]
    lines = opened_at_lines(text)
    expect(len(lines) == len(frames), "every frame (%d) printed:\n%s" % (len(frames), text))
    expect([line.split()[0] for line in lines] == ["#%d" % i for i in range(len(frames))],
           "frames #0 on, in order:\n" + text)
    expect(not any("interpreter frame" in line for line in text.splitlines()), "nothing folded:\n" + text)


def test_python_native_frames_bad_value_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "leak.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        p = run([PYTHON, script], env=preload_env("native_frames=some"), timeout=60)
    expect("sockleak: " in p.stderr and "native_frames" in p.stderr and "folded or all" in p.stderr,
           "a clear error: %r" % p.stderr)


def test_python_native_frames_folded_by_the_analyzer_too():
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "leak.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ)
        env.pop("SOCKLEAK_OPTIONS", None)
        p = run([SOCKLEAK, "run", "--text", tmp + "/folded.txt", "--json", tmp + "/r.json", "--",
                 PYTHON, script], env=env, timeout=120)
        expect(p.returncode == 23, "exit status %d\n%s" % (p.returncode, p.stderr))
        frames = json.load(open(tmp + "/r.json"))["transports"][0]["opened_at"]
        folded = open(tmp + "/folded.txt").read()
        expect(opened_at_lines(folded) == ["    ... %d interpreter frames" % len(frames)],
               "the analyzer folds (%d frames):\n%s" % (len(frames), folded))
        env["SOCKLEAK_OPTIONS"] = "native_frames=all"
        p = run([SOCKLEAK, "run", "--text", tmp + "/all.txt", "--", PYTHON, script], env=env, timeout=120)
        expect(p.returncode == 23, "exit status %d\n%s" % (p.returncode, p.stderr))
        whole = open(tmp + "/all.txt").read()
        expect(len(opened_at_lines(whole)) == len(frames) and not re.search("interpreter frames", whole),
               "native_frames=all reaches the analyzer:\n" + whole)
        p = run([SOCKLEAK, "run", "--native-frames", "all", "--text", tmp + "/opt.txt", "--", PYTHON, script],
                env=dict(env, SOCKLEAK_OPTIONS=""), timeout=120)
        expect(opened_at_lines(open(tmp + "/opt.txt").read()) == opened_at_lines(whole),
               "--native-frames all as the option")
