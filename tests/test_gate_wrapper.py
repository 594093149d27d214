"""The wrapper's gate is only as good as its evidence (issue 10 items 6 and 13): a --keep folder
must be sockleak's or the caller's own, private and empty, and nothing it writes there may go
through a planted link; a raw exit system call is an exit, not a kill; an ASan-built program runs
under the preload with its runtime first, and is reported like any other."""

import json
import os
import re
import stat
import tempfile

from common import BUILD, SOCKLEAK, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
LEAKY = os.path.join(PROGS, "leaky")
RAW_EXIT = os.path.join(PROGS, "raw_exit")
NOBODY = 65534


def sockleak(*args, env=None, timeout=120, cwd=None):
    """Runs the wrapper without the caller's SOCKLEAK_OPTIONS and LD_PRELOAD."""
    base = {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}
    base.update(env or {})
    return run([SOCKLEAK] + list(args), env=base, timeout=timeout, cwd=cwd)


# ---- --keep DIR (issue 10 item 6) ----

def test_keep_refuses_a_folder_it_cannot_trust():
    if os.getuid() != 0:
        return "skipped the other user's folder: needs root to make one"
    with tempfile.TemporaryDirectory(prefix="sockleak-keep-") as tmp:
        # Another user's empty folder, open to all: its owner could plant links in it mid-run.
        theirs = os.path.join(tmp, "theirs")
        os.mkdir(theirs)
        os.chmod(theirs, 0o777)
        os.chown(theirs, NOBODY, NOBODY)
        r = sockleak("run", "--keep", theirs, "--", LEAKY)
        expect(r.returncode == 125, "another user's folder: status %d\n%s" % (r.returncode, r.stderr))
        expect("sockleak: run: --keep %s: the directory belongs to another user (uid %d)" % (theirs, NOBODY)
               in r.stderr, r.stderr)
        expect(os.listdir(theirs) == [] and stat.S_IMODE(os.stat(theirs).st_mode) == 0o777,
               "the folder was used or changed: %s" % os.listdir(theirs))
        # A symbolic link to a folder of one's own is not followed either.
        mine = os.path.join(tmp, "mine")
        os.mkdir(mine, 0o700)
        link = os.path.join(tmp, "link")
        os.symlink(mine, link)
        r = sockleak("run", "--keep", link, "--", LEAKY)
        expect(r.returncode == 125 and "--keep %s: exists and is not a directory (a symbolic link)" % link
               in r.stderr, "a link: status %d\n%s" % (r.returncode, r.stderr))
        expect(os.listdir(mine) == [], "written through the link: %s" % os.listdir(mine))
        # One's own empty folder, open to all, is made private before it is used.
        os.chmod(mine, 0o777)
        r = sockleak("run", "--keep", mine, "-q", "--", LEAKY, "exit=3")
        expect(r.returncode == 3, "one's own folder: status %d\n%s" % (r.returncode, r.stderr))
        expect(stat.S_IMODE(os.stat(mine).st_mode) == 0o700, "mode %o" % os.stat(mine).st_mode)
        expect(stat.S_IMODE(os.stat(os.path.join(mine, "exit-status")).st_mode) == 0o600, "exit-status mode")
    return "another user's folder and a link refused; one's own made 0700"


def test_keep_never_writes_through_a_planted_link():
    """The command (the same user) plants exit-status as a link to a file of its choosing while
    it runs: sockleak must not write through it, and must not pass the gate without it."""
    with tempfile.TemporaryDirectory(prefix="sockleak-plant-") as tmp:
        keep, target = os.path.join(tmp, "run"), os.path.join(tmp, "target")
        with open(target, "w") as f:
            f.write("precious\n")
        # (Removed first: sockleak may have made the file before the run, to hold its blocks.)
        r = sockleak("run", "--keep", keep, "--", "/bin/sh", "-c", 'rm -f "$2/exit-status"; ln -s "$1" "$2/exit-status"',
                     "sh", target, keep)
        with open(target) as f:
            expect(f.read() == "precious\n", "sockleak wrote through the planted link")
        expect(r.returncode == 125, "status %d, expected 125\n%s" % (r.returncode, r.stderr))
        expect(re.search(r"^sockleak: cannot write .*exit-status.*%s" % re.escape(keep), r.stderr, re.M) or
               re.search(r"^sockleak: cannot write %s/exit-status: " % re.escape(keep), r.stderr, re.M), r.stderr)
        expect(os.path.islink(os.path.join(keep, "exit-status")), "the planted link was replaced")
    return "the link's target untouched, status 125"


# ---- a raw exit system call (issue 10 item 13) ----

def test_raw_exit_is_an_exit_not_a_kill():
    with tempfile.TemporaryDirectory(prefix="sockleak-rawexit-") as tmp:
        r = sockleak("run", "--json", os.path.join(tmp, "r.json"), "--", RAW_EXIT, "4")
        with open(os.path.join(tmp, "r.json")) as f:
            doc = json.load(f)
    ends = sorted((p["exit"]["how"], p["exit"]["status"]) for p in doc["processes"])
    expect(ends == [("exit", 0), ("raw_exit", 4)], "JSON exits %s" % ends)
    details = [fl["detail"] for t in doc["transports"] for fl in t["flags"]]
    expect(details == ["open (fd 3) when the process ended through a raw exit system call (status 4): no "
                       "exit-time cleanup and no exit report ran"], "details %s" % details)
    expect(r.returncode == 4, "status %d, expected the command's 4\n%s" % (r.returncode, r.stderr))
    expect("killed (signal unknown)" not in r.stderr, "called a kill:\n" + r.stderr)
    expect(re.search(r"^  (\d+) exit 4 \(raw exit system call\), 1 warning: .*raw_exit 4$", r.stderr, re.M),
           r.stderr)
    expect(re.search(r"^    \d+ fork, exit 0: .*raw_exit 4$", r.stderr, re.M), r.stderr)
    expect(re.search(r"^sockleak: note \(pid \d+\): exited with status 4 through a raw exit system call \(not "
                     r"killed; ", r.stderr, re.M), r.stderr)
    expect(r.stderr.count("Transport #") == 1 and "process-killed (warning): open (fd 3) when the process ended through a raw exit" in r.stderr, r.stderr)
    return "exit 4 (raw exit system call)"


# ---- an ASan-built program (issue 10 item 13) ----

def build_asan_leaky(tmp):
    prog = os.path.join(tmp, "leaky_asan")
    r = run(["gcc", "-std=gnu11", "-D_GNU_SOURCE", "-g", "-O0", "-fsanitize=address", "-pthread", "-o", prog,
             os.path.join(os.path.dirname(BUILD), "analyzer", "testprogs", "leaky.c")], timeout=120)
    expect(r.returncode == 0, "gcc -fsanitize=address: %s" % r.stderr)
    return prog


def test_asan_program_runs_with_its_runtime_first():
    with tempfile.TemporaryDirectory(prefix="sockleak-asan-") as tmp:
        prog = build_asan_leaky(tmp)
        out = os.path.join(tmp, "r.json")
        # The command itself linked with libasan.so.N: its runtime is put first, unasked.
        r = sockleak("run", "--json", out, "--", prog, "udp", "exit=3", cwd=tmp)
        expect("ASan runtime does not come first" not in r.stderr and "static or set-user-ID" not in r.stderr,
               r.stderr)
        expect(r.returncode == 23, "status %d, expected the gate's 23\n%s" % (r.returncode, r.stderr))
        doc = json.load(open(out))
        found = [(t["kind"], [f["flag"] for f in t["flags"]], [f["function"] for f in t["opened_at"]][:1])
                 for t in doc["transports"]]
        expect(found == [("udp4", ["never-closed"], ["leak_udp"])], str(found))
        expect(doc["exit"]["how"] == "exit" and doc["exit"]["status"] == 3, str(doc["exit"]))
        # Nothing to find: the program's own status, 0. It records nothing, so it has no log;
        # the preload's marker says that it ran (issue 12).
        r = sockleak("run", "--", prog, cwd=tmp)
        expect(r.returncode == 0 and "sockleak: no process recorded a transport: the preload ran" in r.stderr,
               "status %d\n%s" % (r.returncode, r.stderr))
        # Started by a shell: the runtime named with --asan-runtime comes first in every process.
        runtime = run(["gcc", "-print-file-name=libasan.so"]).stdout.strip()
        r = sockleak("run", "--asan-runtime", runtime, "--json", out, "--", "/bin/sh", "-c", '"$0" udp', prog,
                     cwd=tmp)
        expect(r.returncode == 23 and "ASan runtime does not come first" not in r.stderr,
               "through a shell: status %d\n%s" % (r.returncode, r.stderr))
        doc = json.load(open(out))
        expect([(t["kind"], [f["flag"] for f in t["flags"]]) for t in doc["transports"]]
               == [("udp4", ["never-closed"])], str(doc["transports"]))
        r = sockleak("run", "--asan-runtime", os.path.join(tmp, "missing.so"), "--", prog)
        expect(r.returncode == 125 and "sockleak: run: --asan-runtime %s: no such file" % os.path.join(tmp, "missing.so")
               in r.stderr, r.stderr)
    return "linked: its runtime first, 23; through a shell with --asan-runtime: 23"


def test_asan_program_that_never_loaded_the_preload_gets_the_exact_fix():
    """An ASan program sockleak does not see as the command (here the interpreter of a script)
    stops before the preload starts: the program's status is kept, and the message names the
    fix, not only static programs."""
    with tempfile.TemporaryDirectory(prefix="sockleak-asanfix-") as tmp:
        # One UDP socket left open, whatever the arguments (a script's interpreter gets its path).
        source, prog = os.path.join(tmp, "udp.c"), os.path.join(tmp, "udp_asan")
        with open(source, "w") as f:
            f.write("#include <sys/socket.h>\nint main(void) { return socket(AF_INET, SOCK_DGRAM, 0) < 0; }\n")
        r = run(["gcc", "-g", "-fsanitize=address", "-o", prog, source], timeout=120)
        expect(r.returncode == 0, "gcc -fsanitize=address: %s" % r.stderr)
        script = os.path.join(tmp, "script")
        with open(script, "w") as f:
            f.write("#!%s\n" % prog)
        os.chmod(script, 0o755)
        r = sockleak("run", "--", script, "udp", cwd=tmp)
        expect(r.returncode == 1, "status %d, expected ASan's 1\n%s" % (r.returncode, r.stderr))
        expect("sockleak: an ASan-built program also stops at once (\"ASan runtime does not come first\") when "
               "it is not the command itself: give its runtime, as in sockleak run --asan-runtime "
               "$(gcc -print-file-name=libasan.so) -- %s udp\n" % script in r.stderr, r.stderr)
        runtime = run(["gcc", "-print-file-name=libasan.so"]).stdout.strip()
        r = sockleak("run", "--asan-runtime", runtime, "--", script, "udp", cwd=tmp)
        expect(r.returncode == 23 and r.stderr.count("never-closed (error)") == 1,
               "with the fix: status %d\n%s" % (r.returncode, r.stderr))
    return "status 1, the fix named; with it, 23"
