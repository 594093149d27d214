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


# ---- item 4: colour in the preload's own text report ----

from common import BUILD  # noqa: E402

LEAKY = os.path.join(BUILD, "analyzer", "testprogs", "leaky")
RED, MAGENTA, BOLD, RESET = "\033[1;31m", "\033[1;35m", "\033[1m", "\033[0m"


def leaky_on_a_pty(options, term="xterm"):
    import pty
    import subprocess
    master, slave = pty.openpty()
    got = b""
    try:
        p = subprocess.run([LEAKY, "udp", "warn"], env=preload_env(options, TERM=term), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=slave, timeout=60)
        os.close(slave)
        slave = None
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    return p.returncode, got.decode().replace("\r\n", "\n")


def expect_painted(text):
    lines = text.splitlines()
    expect(re.match(r"^\033\[1;31m==\d+==ERROR: sockleak: 2 transports not finished properly in .*\033\[0m$",
                    lines[0]), repr(lines[0]))
    expect("\n  %snever-closed (error)%s: still open (fd 3)" % (RED, RESET) in text, repr(text))
    expect("\n  %sclosed-while-registered (warning)%s: " % (MAGENTA, RESET) in text, repr(text))
    expect("\n%sTransport #1: udp4 socket, fd 3, 0.0.0.0:0%s\n" % (BOLD, RESET) in text, repr(text))
    expect(re.search(r"^\033\[1mSUMMARY: sockleak: 1 error, 1 warning .*\033\[0m$", text, re.M), repr(text))


def plain_of(text):
    return re.sub(r"==\d+==|pid \d+|0x[0-9a-f]+", "N", re.sub(r"\033\[[0-9;]*m", "", text))


def test_preload_color_auto_on_a_terminal_only():
    status, text = leaky_on_a_pty("")
    expect(status == 23, "status %d" % status)
    expect_painted(text)
    status, dumb = leaky_on_a_pty("", term="dumb")
    expect(status == 23 and "\033" not in dumb and "never-closed (error)" in dumb, "TERM=dumb: %r" % dumb)
    status, never = leaky_on_a_pty("color=never")
    expect(status == 23 and "\033" not in never and plain_of(text) == plain_of(never),
           "never on a terminal: %r" % never)
    p = run([LEAKY, "udp", "warn"], env=preload_env(None, TERM="xterm"))
    expect(p.returncode == 23 and "\033" not in p.stderr and "never-closed (error)" in p.stderr,
           "auto into a pipe: %r" % p.stderr)


def test_preload_color_always_and_never_into_a_pipe_and_a_file():
    p = run([LEAKY, "udp", "warn"], env=preload_env("color=always", TERM="dumb"))
    expect(p.returncode == 23, "status %d" % p.returncode)
    expect_painted(p.stderr)
    q = run([LEAKY, "udp", "warn"], env=preload_env("color=never", TERM="xterm"))
    expect(q.returncode == 23 and "\033" not in q.stderr and plain_of(p.stderr) == plain_of(q.stderr),
           "never: the same report without colour:\n%r\n%r" % (p.stderr, q.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        r = run([LEAKY, "udp", "warn"], env=preload_env("log_path=%s/t.txt:json=%s/r.json" % (tmp, tmp)))
        text, js = open(tmp + "/t.txt").read(), open(tmp + "/r.json").read()
    expect(r.returncode == 23 and "never-closed (error)" in text and "\033" not in text + js,
           "auto into a file: no escape: %r" % text)
    bad = run([LEAKY, "udp"], env=preload_env("color=yes"))
    expect("sockleak: SOCKLEAK_OPTIONS: option 'color' takes auto, always or never, not 'yes'" in bad.stderr,
           repr(bad.stderr))


def test_preload_color_escapes_come_only_from_sockleak():
    import subprocess
    name = "leaky\033[31mX"
    p = subprocess.run([name, "udp"], executable=LEAKY, env=preload_env("color=always"), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    first = p.stderr.splitlines()[0]
    expect(first.startswith(RED) and re.search(r" in leaky\?\[31mX \(pid \d+\)\033\[0m$", first),
           "the program's name cannot colour: %r" % first)
    expect(p.stderr.count("\033") == 2 * p.stderr.count(RESET), "only sockleak's codes: %r" % p.stderr)
