"""Sockets made from Python code whose frames could fool a cache of names and lines (issue 12):
python.c caches names per code object and lines per (code object, offset). Each socket is made
on the same line as a call to want(), which records the traceback Python itself computes for
that line; the test compares it, frame by frame, with sockleak's. Every socket is left open and
the process ends with os._exit, so that each is reported (never-closed) with its traceback.

  traceback_cache.py SCENARIO WANT_FILE
    reused     1,800 functions made by exec and freed at once: their code objects' addresses are
               reused (bare CPython prints how many distinct addresses there were); then 1,600
               alive at once, more code objects than the cache holds (1,536), all freed, and 200
               more
    lifetime   functions made by exec, each freed after making a socket: prints the reference
               counts of their code objects and how many of them died at once, as bare
    redefined  a function defined twice under one name; its code object renamed and moved by
               code.replace()
    long       a 3,000-line function making sockets near its start, middle and end, in loops
    threads    four threads making sockets at once, each from its own lines
    fork       a child made by fork makes sockets from functions its parent's cache knows
"""

import gc
import json
import os
import socket
import sys
import threading
import traceback
import types
import weakref

keep = []
wanted = []


def want(s):
    """Records the traceback of the caller's line: outermost first, as sockleak stores it, and
    socket.py's __init__ after it, which sockleak sees and extract_stack cannot."""
    frames = [[f.filename, f.lineno, f.name] for f in traceback.extract_stack(sys._getframe(1))]
    frames.append([socket.__file__, None, "__init__"])
    wanted.append({"pid": os.getpid(), "fd": s.fileno(), "frames": frames})
    keep.append(s)


def reused():
    addresses = set()
    n = 1800
    for k in range(n):
        src = "\n" * (k % 50) + "def make_%d():\n    s = socket.socket(); want(s)\n" % (k % 7)
        ns = {"socket": socket, "want": want}
        exec(compile(src, "gen%d.py" % (k % 5), "exec"), ns)
        fn = ns["make_%d" % (k % 7)]
        addresses.add(id(fn.__code__))
        fn()
        # Keep one socket in ten, and the last 100 (made after the cache is full); close the rest.
        if k % 10 and k < n - 100:
            keep.pop().close()
            wanted.pop()
        ns.clear()  # no cycle through the function's globals: the code object is freed now
        del fn
    print("distinct code object addresses: %d of %d" % (len(addresses), n), flush=True)
    # 1,600 code objects alive at once: the last 64 are read without the cache, which is full.
    # Freed together, they leave the cache empty again for the last 200.
    alive = []
    for k in range(1800):
        src = "\n" * (k % 30) + "def alive_%d():\n    s = socket.socket(); want(s)\n" % k
        ns = {"socket": socket, "want": want}
        exec(compile(src, "alive%d.py" % (k % 3), "exec"), ns)
        fn = ns.pop("alive_%d" % k)  # the function is not in its globals: no cycle
        fn()
        if k % 10:
            keep.pop().close()
            wanted.pop()
        alive.append(fn)
        del fn
        if len(alive) == 1600:
            del alive[:]


def lifetime():
    """A code object on a captured traceback lives and dies as it does bare."""
    refcounts, refs, died = set(), [], []
    for k in range(20):
        ns = {"socket": socket, "want": want}
        exec(compile("def made_%d():\n    s = socket.socket(); want(s)\n" % k, "lifetime.py", "exec"), ns)
        fn = ns.pop("made_%d" % k)
        fn()
        code = fn.__code__
        refcounts.add(sys.getrefcount(code))
        refs.append(weakref.ref(code, died.append))
        del fn, code
    print("reference counts of the code objects: %s" % sorted(refcounts))
    print("code objects dead when their function was deleted: %d of %d" % (len(died), len(refs)))
    # The cache holds collection off while it makes a weak reference: it must give back the
    # state it found, on or off.
    print("garbage collection enabled: %s" % gc.isenabled())
    gc.disable()
    fn = types.FunctionType(compile("s = socket.socket(); want(s)", "off.py", "exec"), {"socket": socket, "want": want})
    fn()
    print("garbage collection enabled after gc.disable(): %s" % gc.isenabled(), flush=True)


def make():
    s = socket.socket(); want(s)


def redefined():
    global make
    make()

    def make():  # the same name, another line
        s = socket.socket(); want(s)

    make()
    code = make.__code__.replace(co_name="renamed", co_firstlineno=make.__code__.co_firstlineno + 1000)
    types.FunctionType(code, globals())()
    make()


def long():
    body = ["def long_function():"]
    for i in range(3000):
        if i in (2, 1500, 2998):
            body.append("    for _ in range(3): s = socket.socket(); want(s)")
        else:
            body.append("    x%d = %d" % (i, i))
    ns = {"socket": socket, "want": want}
    exec(compile("\n".join(body) + "\n", "long.py", "exec"), ns)
    ns["long_function"]()
    ns["long_function"]()


def worker_a(n):
    for _ in range(n):
        s = socket.socket(); want(s)


def worker_b(n):
    for _ in range(n):
        s = socket.socket(socket.AF_INET6); want(s)


def threads():
    ts = [threading.Thread(target=w, args=(40,)) for w in (worker_a, worker_b, worker_a, worker_b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def fork():
    make()
    worker_a(2)
    pid = os.fork()
    if pid == 0:
        del wanted[:]  # the parent's sockets are the parent's to report (report_inherited=0)
        make()
        worker_b(2)
        worker_a(1)
        finish()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 23):  # 23: sockleak's report of the child
        raise SystemExit("the child failed: %d" % status)
    make()
    finish()


def finish():
    with open("%s.%d" % (sys.argv[2], os.getpid()), "w") as f:
        json.dump(wanted, f)
    os._exit(0)


if __name__ == "__main__":
    {"reused": reused, "lifetime": lifetime, "redefined": redefined, "long": long, "threads": threads,
     "fork": fork}[sys.argv[1]]()
    finish()
