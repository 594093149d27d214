"""Small stacks (issue 10, item 7): sockleak must not crash a program whose thread or signal stack
is small. socket() on a 16 KiB thread, exit() on a 16 to 64 KiB thread and _exit() from a handler
on a SIGSTKSZ alternate stack all died with SIGSEGV (the stack walk and the exit report ran on
the caller's stack). Each mode of tests/reliability/smallstack.c runs bare and under sockleak:
the same transcript and, but for sockleak's exit code 23, the same exit; then the report is
checked exactly, including "stack not taken" where the walk was skipped for want of room."""

import glob
import json
import os
import struct
import tempfile

from common import BUILD, PRELOAD, expect, run

SMALLSTACK = os.path.join(BUILD, "reliability", "smallstack")
NOT_TAKEN = "(stack not taken: too little stack left in this thread)"


def bare_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    return env


def transcript(text):
    return [l for l in text.splitlines() if not l.startswith("#")]


def compare(args, expected_status, options=""):
    """Runs smallstack ARGS bare and preloaded; returns (preloaded run, its one report or None)."""
    bare = run([SMALLSTACK] + args, env=bare_env(), timeout=60)
    expect(bare.returncode == 0, "%s bare: exit status %d\n%s" % (args, bare.returncode, bare.stderr))
    with tempfile.TemporaryDirectory(prefix="sockleak-stacks-") as tmp:
        opts = "json=%s/r.%%p.json" % tmp + (":" + options if options else "")
        env = dict(bare_env(), LD_PRELOAD=PRELOAD, SOCKLEAK_OPTIONS=opts)
        pre = run([SMALLSTACK] + args, env=env, timeout=60, cwd=tmp)
        reps = []
        for path in sorted(glob.glob(os.path.join(tmp, "r.*.json"))):
            with open(path) as f:
                reps.append(json.load(f))
    expect(pre.returncode == expected_status, "%s: exit status %d under sockleak, expected %d (bare 0)\n%s"
           % (args, pre.returncode, expected_status, pre.stderr[-3000:]))
    expect(transcript(bare.stdout) == transcript(pre.stdout),
           "%s: the program saw different results under sockleak:\n--- bare\n%s--- preloaded\n%s"
           % (args, bare.stdout, pre.stdout))
    expect(len(reps) <= 1, "%s: %d reports" % (args, len(reps)))
    return pre, reps[0] if reps else None


def one_leak(report, kind):
    """The report's one transport: a never-closed socket of this kind, and nothing else."""
    found = [(t["kind"], t["role"], [f["flag"] for f in t["flags"]]) for t in report["transports"]]
    expect(found == [(kind, "socket", ["never-closed"])], "findings %s, expected one never-closed %s socket"
           % (found, kind))
    return report["transports"][0]


def frames(t):
    return [f["function"] for f in t["opened_at"]]


def expect_not_taken(t):
    expect(frames(t) == [NOT_TAKEN], "opened_at %s, expected the one line %r" % (frames(t), NOT_TAKEN))


def expect_taken(t, function):
    expect(function in frames(t) and NOT_TAKEN not in frames(t),
           "opened_at %s, expected a stack through %s" % (frames(t), function))


# ---- hooks ----

def test_socket_on_a_16k_thread():
    # A PTHREAD_STACK_MIN thread has about 10 KiB left under sockleak: too little for a walk.
    pre, r = compare(["socket"], 23)
    t = one_leak(r, "tcp4")
    expect_not_taken(t)
    expect(NOT_TAKEN in pre.stderr, "the text report does not say the stack was not taken:\n" + pre.stderr)
    expect("#0" not in pre.stderr, "the text report shows frames:\n" + pre.stderr)


def test_socket_on_a_256k_thread_keeps_its_stack():
    # The budget must not cost the stacks of threads with room: the walk is taken.
    pre, r = compare(["socket", "256"], 23)
    expect_taken(one_leak(r, "tcp4"), "socket_thread")


def test_socket_with_1500_bytes_left():
    # Less stack than sockleak's event path needs: it commits on a stack mapped for the call.
    pre, r = compare(["socket_low"], 23)
    expect_not_taken(one_leak(r, "udp4"))
    expect(r["summary"]["transports_seen"] == 2, "transports_seen %s" % r["summary"]["transports_seen"])


def test_socket_in_a_handler_on_an_8k_alternate_stack():
    pre, r = compare(["altsocket", "8192"], 23)
    expect_not_taken(one_leak(r, "udp4"))


# ---- the exit report ----

def exit_on_thread(kib):
    pre, r = compare(["exit", str(kib)], 23)
    expect_taken(one_leak(r, "tcp4"), "main")
    expect(r["exit"] == {"how": "exit", "status": 0, "signal": None}, "exit %s" % r["exit"])
    expect(pre.stderr.count("ERROR: sockleak:") == 1, "text report:\n" + pre.stderr)


def test_exit_on_a_16k_thread():
    exit_on_thread(16)


def test_exit_on_a_24k_thread():
    exit_on_thread(24)


def test_exit_on_a_32k_thread():
    exit_on_thread(32)


def test_exit_on_a_64k_thread():
    exit_on_thread(64)


def test_exit_from_a_handler_on_a_sigstksz_alternate_stack():
    # SIGSTKSZ as the program sees it (sysconf's figure with _GNU_SOURCE), then the historical 8192.
    for args in (["altexit"], ["altexit", "8192"]):
        pre, r = compare(args, 23)
        t = one_leak(r, "tcp4")
        expect_taken(t, "main")
        expect(r["exit"] == {"how": "_exit", "status": 0, "signal": None}, "exit %s" % r["exit"])
        expect("when the process called _exit()" in t["flags"][0]["detail"], t["flags"][0]["detail"])


def test_exit_without_address_space_for_the_report_stack():
    # RLIMIT_AS leaves no room for the report's 1 MiB stack. The main thread has room of its own:
    # the report is made there. A 32 KiB thread has not: sockleak says so once and makes no
    # report, and the program exits as bare.
    pre, r = compare(["exit_noas"], 23)
    one_leak(r, "tcp4")
    pre, r = compare(["exit_noas", "32"], 0)
    expect(r is None, "a report was written")
    said = [l for l in pre.stderr.splitlines() if l.startswith("sockleak:")]
    expect(len(said) == 1 and "exit report's stack" in said[0] and "no report" in said[0],
           "expected one message about the report's stack, got:\n" + pre.stderr)


def test_stack_not_taken_through_the_event_log():
    # sockleak run: the one sentinel frame goes through the event log and the analyzer, which
    # say the same words.
    from common import SOCKLEAK
    with tempfile.TemporaryDirectory(prefix="sockleak-stacks-") as tmp:
        out = os.path.join(tmp, "r.json")
        p = run([SOCKLEAK, "run", "--json", out, "--", SMALLSTACK, "socket"], env=bare_env(), timeout=60, cwd=tmp)
        expect(p.returncode == 23, "sockleak run: exit status %d\n%s" % (p.returncode, p.stderr[-3000:]))
        expect(NOT_TAKEN in p.stderr, "the text report does not say the stack was not taken:\n" + p.stderr)
        with open(out) as f:
            r = json.load(f)
    expect_not_taken(one_leak(r, "tcp4"))


def static_tls_bytes(path):
    """The memory size of an ELF64 shared object's PT_TLS segment (0 without one)."""
    with open(path, "rb") as f:
        elf = f.read()
    expect(elf[:5] == b"\x7fELF\x02", "%s is not an ELF64 file" % path)
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", elf, phoff + i * phentsize)
        if p_type == 7:  # PT_TLS
            return struct.unpack_from("<Q", elf, phoff + i * phentsize + 0x28)[0]
    return 0


def test_static_tls_stays_small():
    # glibc carves every thread's static TLS out of the thread's own stack: sockleak's took 1,936
    # bytes from each (the deferred-event ring and the last-stacks cache), now 1,160.
    size = static_tls_bytes(PRELOAD)
    expect(0 < size <= 1280, "the preload's static TLS is %d bytes, more than 1,280" % size)
    return "%d bytes of static TLS" % size
