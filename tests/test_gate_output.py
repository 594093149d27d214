"""The report and its files (issue 10, items 3, 4, 5, 12 and 13). Writing the report never harms
the program: no SIGPIPE at exit, no bytes into the program's socket on fd 2, no file followed,
blocked on or taken over, one rule for strings that are not UTF-8, suppressions only from a
regular file, string options set as often as wanted, and "1 transport" in the summary."""

import json
import os
import pwd
import re
import socket
import stat
import subprocess
import tempfile

from common import BUILD, PRELOAD, PYTHON, SOCKLEAK, Failure, expect, run

NEVER_CLOSED = os.path.join(BUILD, "testapps", "never_closed")
NEVER_CLOSED_FOUND = [("tcp4", "client", ["never-closed"])]


def env_for(options=None, preload=PRELOAD):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    if options is not None:
        env["LD_PRELOAD"] = preload
        env["SOCKLEAK_OPTIONS"] = options
    return env


def load(path):
    with open(path) as f:
        return json.load(f)


def found(report):
    return [(t["kind"], t["role"], [f["flag"] for f in t["flags"]]) for t in report["transports"]]


def messages(stderr):
    return [l for l in stderr.splitlines() if l.startswith("sockleak:")]


# ---- item 3: SIGPIPE at report time ----

def run_with_dead_stderr(cmd, env):
    """Runs cmd with stderr a pipe whose reader has already gone; returns its wait status."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w, env=env)
    finally:
        os.close(w)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise Failure("%s hung with stderr a broken pipe" % cmd[0])


def test_sigpipe_at_report_time():
    bare = run_with_dead_stderr([NEVER_CLOSED], env_for())
    expect(bare == 0, "bare: status %d" % bare)
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        for options, status in (("exitcode=0", 0), ("", 23)):
            path = os.path.join(tmp, "r%d.json" % status)
            got = run_with_dead_stderr([NEVER_CLOSED], env_for("json=%s:%s" % (path, options)))
            # A negative status is a signal: SIGPIPE killed the program at exit.
            expect(got == status, "%s: status %d with stderr a broken pipe, expected %d"
                   % (options or "default", got, status))
            expect(os.path.exists(path), "%s: no JSON report" % (options or "default"))
            r = load(path)
            expect(found(r) == NEVER_CLOSED_FOUND, "findings %s" % found(r))
            expect(r["summary"]["errors"] == 1 and r["text_report_refused"] is None, str(r["summary"]))


# ---- item 4: the report never goes into the program's socket ----

STDERR_SOCKET = """
import os, socket, sys
port = int(sys.argv[1])
os.close(2)
s = socket.create_connection(("127.0.0.1", port))
assert s.fileno() == 2, s.fileno()
s.sendall(b"the program's own bytes\\n")
os._exit(0)   # the socket stays open: a never-closed finding, reported at exit
"""


def peer_receives(env, tmp):
    """Runs STDERR_SOCKET against a listener; returns (status, every byte the peer received, stderr)."""
    script = os.path.join(tmp, "stderr_socket.py")
    with open(script, "w") as f:
        f.write(STDERR_SOCKET)
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        lsn.settimeout(30)
        p = subprocess.Popen([PYTHON, script, str(lsn.getsockname()[1])], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, env=env)
        conn, _ = lsn.accept()
        conn.settimeout(30)
        data = b""
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        out = p.communicate(timeout=30)[0]
    return p.returncode, data, out


def test_report_not_sent_to_a_socket_on_fd_2():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        status, bare, _ = peer_receives(env_for(), tmp)
        expect(status == 0 and bare == b"the program's own bytes\n", "bare: %d %r" % (status, bare))
        path = os.path.join(tmp, "r.json")
        status, data, _ = peer_receives(env_for("json=%s:verbosity=1" % path), tmp)
        expect(data == bare, "the peer received %r under sockleak, %r bare" % (data, bare))
        expect(status == 23, "status %d, expected 23" % status)
        r = load(path)
        expect(found(r) == [("tcp4", "client", ["never-closed"])] and r["transports"][0]["fd"] == 2,
               "findings %s" % found(r))
        expect(r["text_report_refused"] == "fd 2 is a socket the program uses, not its stderr",
               "text_report_refused: %r" % r["text_report_refused"])
        # sockleak's own messages stay out of the socket too: here, that the JSON file is refused.
        os.mkdir(os.path.join(tmp, "dir"))
        status, data, _ = peer_receives(env_for("json=%s/dir:verbosity=1" % tmp), tmp)
        expect(data == bare and status == 23, "with a message to say: the peer received %r, status %d"
               % (data, status))


STDERR_FILE = """
import os, socket, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.dup2(fd, 2)
os.write(2, b"the program's own log\\n")
s = socket.socket()
os._exit(0)
"""


def test_report_not_written_into_a_file_the_program_put_on_fd_2():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        log, path = os.path.join(tmp, "program.log"), os.path.join(tmp, "r.json")
        p = run([PYTHON, "-c", STDERR_FILE, log], env=env_for("json=%s" % path))
        expect(p.returncode == 23, "status %d, expected 23\n%s" % (p.returncode, p.stderr))
        with open(log, "rb") as f:
            expect(f.read() == b"the program's own log\n", "the program's log holds more than its own bytes")
        r = load(path)
        expect(found(r) == [("tcp4", "socket", ["never-closed"])], "findings %s" % found(r))
        expect(r["text_report_refused"] == "fd 2 is no longer the stderr the process started with",
               "text_report_refused: %r" % r["text_report_refused"])


# ---- item 5: report files never follow planted files ----

def refused(tmp, options, reason, status=23):
    """Runs never_closed with options ($TMP: tmp); expects one message that names the refused
    path and the reason, and the status the program has under sockleak."""
    options = options.replace("$TMP", tmp)
    name, path = options.split("=", 1)
    what = "JSON report" if name == "json" else "report"
    p = run([NEVER_CLOSED], env=env_for(options), timeout=30)
    want = "sockleak: cannot write the %s to %s: %s" % (what, path, reason)
    expect(messages(p.stderr) == [want],
           "%s: messages %s, expected [%r]" % (options, messages(p.stderr), want))
    expect(p.returncode == status, "%s: status %d, expected %d" % (options, p.returncode, status))
    return p


def test_report_file_symlink_not_followed():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        target = os.path.join(tmp, "precious")
        with open(target, "w") as f:
            f.write("precious\n")
        for option in ("json", "log_path"):
            link = os.path.join(tmp, "%s.link" % option)
            os.symlink(target, link)
            refused(tmp, "%s=%s" % (option, link), "it is a symbolic link")
            with open(target) as f:
                expect(f.read() == "precious\n", "%s: the symlink's target was written" % option)
        # A dangling link: its target must not be created either.
        os.symlink(os.path.join(tmp, "created"), os.path.join(tmp, "dangling"))
        refused(tmp, "json=$TMP/dangling", "it is a symbolic link")
        expect(not os.path.exists(os.path.join(tmp, "created")), "the dangling link's target was created")


def test_report_file_fifo_does_not_block():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        os.mkfifo(os.path.join(tmp, "fifo"))
        refused(tmp, "json=$TMP/fifo", "it is a FIFO")
        refused(tmp, "log_path=$TMP/fifo", "it is a FIFO")
        os.mkdir(os.path.join(tmp, "dir"))
        refused(tmp, "json=$TMP/dir", "it is a directory")


def test_report_file_of_another_user_or_linked_refused():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        os.chmod(tmp, 0o755)
        theirs = os.path.join(tmp, "theirs.json")
        with open(theirs, "w") as f:
            f.write("theirs\n")
        os.chmod(theirs, 0o666)
        if os.geteuid() == 0:
            os.chown(theirs, pwd.getpwnam("nobody").pw_uid, -1)
            refused(tmp, "json=" + theirs, "another user owns it")
            refused(tmp, "log_path=" + theirs, "another user owns it")
            with open(theirs) as f:
                expect(f.read() == "theirs\n", "another user's file was written")
            note = ""
        else:
            note = "not root: another user's file not tried"
        # A second name for a file: a hard link planted to one of this user's files.
        mine = os.path.join(tmp, "mine")
        with open(mine, "w") as f:
            f.write("mine\n")
        os.link(mine, os.path.join(tmp, "link.json"))
        refused(tmp, "json=$TMP/link.json", "it has other hard links")
        with open(mine) as f:
            expect(f.read() == "mine\n", "a hard-linked file was written")
        return note


def test_report_files_made_0600_existing_truncated_or_appended():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        old = os.umask(0o022)
        try:
            js, log = os.path.join(tmp, "r.json"), os.path.join(tmp, "r.log")
            p = run([NEVER_CLOSED], env=env_for("json=%s:log_path=%s" % (js, log)), timeout=30)
            expect(p.returncode == 23 and not messages(p.stderr), "status %d\n%s" % (p.returncode, p.stderr))
            for path in (js, log):
                mode = stat.S_IMODE(os.stat(path).st_mode)
                expect(mode == 0o600, "%s made with mode %o, expected 600" % (os.path.basename(path), mode))
            with open(log) as f:
                first = f.read()
            expect(first.count("SUMMARY:") == 1, first)
            # Again into the same files: the JSON is replaced, the text appended to.
            with open(js, "a") as f:
                f.write("x" * 100000)
            p = run([NEVER_CLOSED], env=env_for("json=%s:log_path=%s" % (js, log)), timeout=30)
            expect(p.returncode == 23 and not messages(p.stderr), "status %d\n%s" % (p.returncode, p.stderr))
            expect(found(load(js)) == NEVER_CLOSED_FOUND, "the JSON report was not replaced")
            with open(log) as f:
                expect(f.read().count("SUMMARY:") == 2, "the text report was not appended")
        finally:
            os.umask(old)


# ---- item 12: strings that are not UTF-8 ----

BAD_ARGS = [b"\xed\xa0\x80", b"\xe0\x80\xaf", b"ok\xff"]  # a surrogate, an overlong '/', a stray byte


def test_argv_not_utf8_one_rule():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        path = os.path.join(tmp, "r.json")
        cmd = [NEVER_CLOSED.encode()] + BAD_ARGS
        p = subprocess.run(cmd, env=env_for("json=%s:report=0" % path), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        expect(p.returncode == 23, "status %d\n%r" % (p.returncode, p.stderr))
        with open(path, "rb") as f:
            raw = f.read()
        try:
            r = json.loads(raw.decode("utf-8"))  # strict: a surrogate fails here
        except ValueError as e:
            raise Failure("the preload's JSON is not strict UTF-8 JSON: %s" % e)
        # Every byte that starts no well-formed sequence is one U+FFFD.
        want = ["\ufffd" * 3, "\ufffd" * 3, "ok\ufffd"]
        expect(r["argv"][1:] == want, "argv %r, expected %r" % (r["argv"][1:], want))
        # The analyzer: the same strings, and the run's own status (it exited 125).
        out = os.path.join(tmp, "run.json")
        p = subprocess.run([SOCKLEAK.encode(), b"run", b"-q", b"--json", out.encode(), b"--"] + cmd,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env_for(), timeout=120)
        expect(p.returncode == 23, "sockleak run: status %d\n%r" % (p.returncode, p.stderr[-2000:]))
        with open(out, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        expect(doc["argv"][1:] == want, "sockleak run: argv %r, expected %r" % (doc["argv"][1:], want))


# ---- item 13: suppressions, repeated options, plurals ----

def test_suppressions_only_from_a_regular_file():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        os.mkdir(os.path.join(tmp, "dir"))
        os.mkfifo(os.path.join(tmp, "fifo"))
        for name in ("dir", "fifo"):
            path = os.path.join(tmp, name)
            p = run([NEVER_CLOSED], env=env_for("suppressions=" + path), timeout=20)
            expect(p.returncode == 1, "%s: status %d, expected 1 (refused)\n%s" % (name, p.returncode, p.stderr))
            expect(messages(p.stderr)[0] == "sockleak: suppressions file %s is not a regular file" % path,
                   "%s: %s" % (name, p.stderr))


def test_string_options_set_again_and_again():
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        long_dir = os.path.join(tmp, "d" * 200)
        os.mkdir(long_dir)
        paths = [os.path.join(long_dir, "r%d.json" % i) for i in range(20)]
        options = ":".join("json=" + p for p in paths)
        p = run([NEVER_CLOSED], env=env_for(options), timeout=30)
        expect(p.returncode == 23, "status %d\n%s" % (p.returncode, p.stderr))
        expect(os.listdir(long_dir) == ["r19.json"], "files %s" % os.listdir(long_dir))


LEAK_ONE = "import os, socket; s = socket.socket(); os._exit(0)"


def test_one_transport_in_the_singular():
    p = run([PYTHON, "-c", LEAK_ONE], env=env_for(""))
    expect("SUMMARY: sockleak: 1 error, 0 warnings in 1 of 1 transport (never-closed: 1)\n" in p.stderr,
           p.stderr)
    p = run([PYTHON, "-c", "import socket; socket.socket().close()"], env=env_for("verbosity=1"))
    expect(p.stderr == "sockleak: 1 transport, all finished properly\n", repr(p.stderr))
    with tempfile.TemporaryDirectory(prefix="sockleak-output-") as tmp:
        junit = os.path.join(tmp, "r.xml")
        p = run([SOCKLEAK, "run", "--junit", junit, "--", PYTHON, "-c", LEAK_ONE], env=env_for(), timeout=120)
        expect("in 1 of 1 transport (never-closed: 1)\n" in p.stderr, p.stderr)
        with open(junit) as f:
            text = f.read()
        expect(re.search(r"<system-out>pid \d+, _exit 0, 1 transport\n", text), text)
