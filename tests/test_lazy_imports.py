"""sockleak's own C library imports, bound at their first call instead of by the loader at every
process's start (issue 12; preload/resolve.c, sl_lazy_bind). The binding must be the loader's
(the same function, in a program with its own malloc and with another allocator preloaded),
must work where a first call can come (a thread with the smallest stack, a signal handler on an
alternate stack) without changing what the program sees, and must not silently come back."""

import os
import re
import subprocess

from common import BUILD, PRELOAD, ROOT, expect, run

REL = os.path.join(BUILD, "reliability")
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def listed_names():
    with open(os.path.join(ROOT, "preload", "lazy_imports.list")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def bare_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    return env


def preloaded_env(preload):
    env = bare_env()
    env["LD_PRELOAD"] = preload
    return env


def addresses(program, preload, origins):
    p = run([os.path.join(REL, program), "addresses"], env=preloaded_env(preload), timeout=60)
    want = ["%d imports" % len(listed_names()),
            "memcpy@GLIBC_2.14 same", "realpath@GLIBC_2.3 same", "pthread_sigmask@GLIBC_2.32 same",
            "fstat@GLIBC_2.33 same"] + ["%s from %s" % kv for kv in origins]
    expect(p.returncode == 0 and p.stdout.splitlines() == want,
           "%s under %s: status %d\n%s%s" % (program, preload, p.returncode, p.stdout, p.stderr[-2000:]))


def test_lazy_imports_bind_to_what_the_loader_gives():
    # Every listed name, bound now, is the function dlsym(RTLD_DEFAULT) finds (the global scope
    # in load order, the default version; the four versioned names checked against the exact
    # version the static linker records), and malloc, free and strlen come from where the loader
    # would take them: the C library, the program that defines and exports its own, or an
    # allocator preloaded after sockleak.
    # close is sockleak's own interposer, which its own calls must keep reaching.
    addresses("lazy_imports", PRELOAD, [("close", "libsockleak.so"), ("free", "libc.so.6"),
                                        ("malloc", "libc.so.6"), ("strlen", "libc.so.6")])
    addresses("lazy_imports_own", PRELOAD,
              [("close", "libsockleak.so"), ("free", "lazy_imports_own"), ("malloc", "lazy_imports_own"),
               ("strlen", "lazy_imports_own")])
    expect(os.path.exists(JEMALLOC), "libjemalloc2 is not installed (scripts/setup-deps lists it)")
    addresses("lazy_imports", PRELOAD + " " + JEMALLOC,
              [("close", "libsockleak.so"), ("free", "libjemalloc.so.2"), ("malloc", "libjemalloc.so.2"),
               ("strlen", "libc.so.6")])


def first_use(mode):
    program = os.path.join(REL, "lazy_imports")
    bare = run([program, mode], env=bare_env(), timeout=60)
    pre = run([program, mode], env=preloaded_env(PRELOAD), timeout=60)
    expect(bare.returncode == 0 and pre.returncode == 0 and bare.stdout == pre.stdout and bare.stdout.count("\n") == 6,
           "%s: bare %d, preloaded %d\n--- bare\n%s--- preloaded\n%s%s" %
           (mode, bare.returncode, pre.returncode, bare.stdout, pre.stdout, pre.stderr[-2000:]))
    m = re.search(r"^bound by the first calls: (\d+)$", pre.stderr, re.M)
    # The calls must have bound some of sockleak's imports, or the test proves nothing; and
    # every socket was closed, so nothing is reported.
    expect(m and int(m.group(1)) >= 3 and "sockleak:" not in pre.stderr,
           "%s: preloaded stderr:\n%s" % (mode, pre.stderr[-2000:]))
    expect("bound by the first calls: 0" in bare.stderr, bare.stderr)


def test_first_binding_in_a_thread_with_the_smallest_stack():
    first_use("thread")


def test_first_binding_in_a_signal_handler_on_an_alternate_stack():
    first_use("signal")


def test_few_imports_are_left_to_the_loader():
    # About 100 imports cost the loader 71,000 instructions at every process's start; what is
    # left is data, what the binding itself calls, and a few of sockleak's own interposers
    # called from their own file. A new call to a C library function shows up here unless it is listed.
    out = subprocess.run(["readelf", "-rW", PRELOAD], capture_output=True, text=True).stdout
    relocs = [line.split()[4] for line in out.splitlines()
              if re.search(r"R_X86_64_(JUMP_SLOT|GLOB_DAT)", line)]
    expect(len(relocs) <= 30, "%d symbol relocations (at most 30): %s" % (len(relocs), " ".join(relocs)))
    # The loader still binds what is left at load (-z now): its lazy resolver never runs.
    dyn = subprocess.run(["readelf", "-dW", PRELOAD], capture_output=True, text=True).stdout
    expect(re.search(r"\(FLAGS\)\s+BIND_NOW", dyn) or re.search(r"\(FLAGS_1\).*\bNOW\b", dyn), dyn)


def test_binding_calls_nothing_it_binds():
    # The binding runs at a listed function's first call: were it to call one (GCC makes a
    # strlen or a memset of a plain loop), that first call would recurse without end. Every
    # function the binding reaches inside sockleak is followed, from its two entry points.
    out = subprocess.run(["objdump", "-d", PRELOAD], capture_output=True, text=True).stdout
    calls, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            current = calls.setdefault(m.group(1), set())
            continue
        m = re.search(r"\b(?:call|jmp)\s+[0-9a-f]+ <([^>+]+)", line)
        if m and current is not None:
            current.add(m.group(1))
    todo, seen = ["sl_lazy_bind", "lazy_find_cb", "lazy_version_cb"], set()
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        expect(fn in calls or fn.endswith("@plt"), "no %s in %s" % (fn, PRELOAD))
        expect(not fn.startswith("__wrap_"), "the binding reaches %s (%s)" % (fn, sorted(seen)))
        todo += sorted(calls.get(fn, ()))
    expect("find_sysv" in seen and "libc_version" in seen and "dl_iterate_phdr@plt" in seen, sorted(seen))


def test_exit_of_a_process_that_tracked_nothing_keeps_its_report_options():
    # Such an exit now runs on the main thread's stack, not on one mapped for it (issue 12):
    # json= is still written (no transport), verbosity=1 still prints its summary, and the exit
    # status is the program's own.
    import json
    import tempfile
    prog = os.path.join(REL, "lazy_imports")  # with no argument: a usage line and status 2
    with tempfile.TemporaryDirectory(prefix="sockleak-noop-") as tmp:
        env = preloaded_env(PRELOAD)
        env["SOCKLEAK_OPTIONS"] = "json=%s/r.%%p.json:verbosity=1" % tmp
        p = run([prog], env=env, timeout=60)
        files = [f for f in os.listdir(tmp) if f.endswith(".json")]
        expect(p.returncode == 2 and len(files) == 1, "status %d, files %s\n%s" % (p.returncode, files, p.stderr))
        with open(os.path.join(tmp, files[0])) as f:
            r = json.load(f)
        expect(r["summary"]["transports_seen"] == 0 and r["exit"] == {"how": "exit", "status": 2, "signal": None}
               and r["argv"] == [prog], json.dumps(r)[:2000])
        expect(p.stderr.splitlines()[-1] == "sockleak: 0 transports, all finished properly", p.stderr)


# ---- review of the lazily bound imports ----

SYSV = os.path.join(REL, "libsysvhash.so")


def test_dlopen_constructor_waiting_for_threads_beside_a_sysv_hash_object():
    # A library with only a DT_HASH table (libsysvhash.so) loaded at start: the binding's
    # lock-free search must read it. When it sent every name to dlsym instead, the threads of
    # a dlopen'ed library's constructor, which waits for them under the loader's lock, hung at
    # their first socket calls (binding sigaltstack through dlsym); bare, the program ends.
    import json
    import tempfile
    host, early = os.path.join(REL, "early_host"), os.path.join(REL, "libearly.so")
    env = bare_env()
    env["EARLY_JOIN_IN_CONSTRUCTOR"] = "1"
    env["LD_PRELOAD"] = SYSV
    bare = run([host, "dlopen", early], env=env, timeout=60)
    expect(bare.returncode == 0 and bare.stdout == "early_host done\n", "bare: %d %r" % (bare.returncode, bare.stdout))
    with tempfile.TemporaryDirectory(prefix="sockleak-sysv-") as tmp:
        env["LD_PRELOAD"] = PRELOAD + " " + SYSV
        env["SOCKLEAK_OPTIONS"] = "json=%s/r.%%p.json" % tmp
        p = run([host, "dlopen", early], env=env, timeout=30)
        files = sorted(f for f in os.listdir(tmp) if f.endswith(".json"))
        expect(p.returncode == 23 and p.stdout == "early_host done\n" and len(files) == 1,
               "status %d, output %r, reports %s\n%s" % (p.returncode, p.stdout, files, p.stderr[-2000:]))
        with open(os.path.join(tmp, files[0])) as f:
            r = json.load(f)
    # 2 sockets in the constructor, 4 threads x (250 socketpairs + 1), 1 in main; one TCP and
    # four UDP sockets leaked on purpose.
    flags = sorted((t["kind"], ",".join(f["flag"] for f in t["flags"])) for t in r["transports"])
    expect(r["summary"]["transports_seen"] == 2007 and
           flags == [("tcp4", "never-closed")] + [("udp4", "never-closed")] * 4,
           "seen %d, %s" % (r["summary"]["transports_seen"], flags))


def test_lazy_imports_bind_through_a_sysv_hash_table():
    # The same object preloaded after sockleak defines strlen: the loader binds sockleak's
    # strlen to it, and so must the binding, found through the DT_HASH table; every other name
    # is still what the loader gives.
    addresses("lazy_imports", PRELOAD + " " + SYSV,
              [("close", "libsockleak.so"), ("free", "libc.so.6"), ("malloc", "libc.so.6"),
               ("strlen", "libsysvhash.so")])


VERSIONED_ALLOC = os.path.join(REL, "libversioned_alloc.so")


def test_an_allocator_under_a_version_of_its_own_is_passed_over():
    # libversioned_alloc.so defines malloc@@VERSIONED_ALLOC_1 and the rest of the family: the
    # loader binds no reference to malloc@GLIBC_2.2.5 to them (the program runs on the C
    # library's allocator, bare), and sockleak's own calls must not be bound to them either:
    # they were, and sockleak's free was handed the C library's strdup at the exit report
    # (status 99, "free of memory it did not make"). Preloaded before and after sockleak.
    import json
    import tempfile
    host, early = os.path.join(REL, "early_host"), os.path.join(REL, "libearly.so")
    bare = run([host, "dlopen", early], env=preloaded_env(VERSIONED_ALLOC), timeout=60)
    expect(bare.returncode == 0 and bare.stdout == "early_host done\n" and bare.stderr == "",
           "bare: %d %r %r" % (bare.returncode, bare.stdout, bare.stderr[-2000:]))
    for preload in (PRELOAD + " " + VERSIONED_ALLOC, VERSIONED_ALLOC + " " + PRELOAD):
        with tempfile.TemporaryDirectory(prefix="sockleak-valloc-") as tmp:
            env = preloaded_env(preload)
            env["SOCKLEAK_OPTIONS"] = "json=%s/r.%%p.json" % tmp
            p = run([host, "dlopen", early], env=env, timeout=60)
            files = sorted(f for f in os.listdir(tmp) if f.endswith(".json"))
            expect(p.returncode == 23 and p.stdout == "early_host done\n" and len(files) == 1 and
                   "libversioned_alloc" not in p.stderr,
                   "%s: status %d, output %r, reports %s\n%s" % (preload, p.returncode, p.stdout, files,
                                                                 p.stderr[-2000:]))
            with open(os.path.join(tmp, files[0])) as f:
                r = json.load(f)
        expect(r["summary"]["transports_seen"] == 2007 and len(r["transports"]) == 5,
               "%s: seen %d, reported %d" % (preload, r["summary"]["transports_seen"], len(r["transports"])))
    # And where each name is bound: the C library's malloc and free, the program's strlen.
    lazy = os.path.join(REL, "lazy_imports")
    p = run([lazy, "addresses"], env=preloaded_env(PRELOAD + " " + VERSIONED_ALLOC), timeout=60)
    shown = [line for line in p.stdout.splitlines() if " from " in line]
    expect(shown == ["close from libsockleak.so", "free from libc.so.6", "malloc from libc.so.6",
                     "strlen from libc.so.6"], p.stdout + p.stderr[-2000:])


def test_exit_on_the_main_stack_counts_from_the_limit_of_the_moment():
    # A process that tracked nothing makes its exit report on the main thread's stack when
    # RLIMIT_STACK leaves 128 KiB (issue 12). exit_room lowers the limit to 256 KiB and exits
    # with 16 KiB of it left: bare, exit needs less. With a handler installed first, sockleak had
    # read the 8 MiB limit then, counted its room from it, and died of SIGSEGV (-11) growing
    # the stack past the kernel's limit of the moment; it must make its report on a stack of
    # its own instead, and the program exit as bare.
    import json
    import tempfile
    prog = os.path.join(REL, "exit_room")
    for mode in (["handler"], []):
        bare = run([prog, "16"] + mode, env=bare_env(), timeout=60)
        expect(bare.returncode == 0 and bare.stdout == "exiting with about 16 KiB left\n",
               "bare %s: %d %r %r" % (mode, bare.returncode, bare.stdout, bare.stderr[-2000:]))
        with tempfile.TemporaryDirectory(prefix="sockleak-exitroom-") as tmp:
            env = preloaded_env(PRELOAD)
            env["SOCKLEAK_OPTIONS"] = "json=%s/r.%%p.json:verbosity=1" % tmp
            p = run([prog, "16"] + mode, env=env, timeout=60)
            files = [f for f in os.listdir(tmp) if f.endswith(".json")]
            expect(p.returncode == 0 and p.stdout == bare.stdout and len(files) == 1 and
                   p.stderr.splitlines()[-1:] == ["sockleak: 0 transports, all finished properly"],
                   "preloaded %s: status %d, output %r, reports %s\n%s" % (mode, p.returncode, p.stdout, files,
                                                                          p.stderr[-2000:]))
            with open(os.path.join(tmp, files[0])) as f:
                r = json.load(f)
        expect(r["summary"]["transports_seen"] == 0 and r["exit"]["status"] == 0, json.dumps(r)[:2000])
