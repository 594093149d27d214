"""The CPU an aiohttp server spends per `Connection: close` request, bare and under sockleak
(issue 12): python3 bench/aiohttp_cpu.py [--requests N] [--pairs P] [--preload PATH] [--callgrind].

Starts an aiohttp server (Debian's python3, python3-aiohttp) bare, with sockleak's tracebacks on,
and with python=0, in turn, and sends it N sequential requests from this process, each on a new
connection that the server closes. The server's user + system time over the requests (from
/proc/PID/stat, so start-up and exit are left out) is divided by N; the ratio to the bare run
just before is taken per pair, and the median printed. A shared machine makes these noisy.

--callgrind counts the server's user-space instructions per request instead (valgrind's
callgrind, the difference between runs of 100 and 300 requests, PYTHONHASHSEED=0): bare, with
tracebacks on, and with python=0. The server's own timers make even these vary by a few
percent of a request; sockleak's own functions in the profiles do not."""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = r'''
import asyncio, sys
from aiohttp import web
async def hello(request):
    return web.Response(text="hello")
async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
asyncio.run(main())
'''
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def one_run(n, env, prefix=()):
    p = subprocess.Popen(list(prefix) + ["/usr/bin/python3", "-c", SERVER], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    port = int(p.stdout.readline())
    for _ in range(50):  # warm-up
        request(port)
    before = cpu_ticks(p.pid)
    for _ in range(n):
        request(port)
    after = cpu_ticks(p.pid)
    p.stdin.close()
    err = p.stderr.read()
    if prefix:
        err = b""  # valgrind's own lines
    if p.wait() != 0 or err:
        sys.exit("aiohttp_cpu: the server failed (status %d):\n%s" % (p.returncode, err.decode()[-2000:]))
    return (after - before) / os.sysconf("SC_CLK_TCK") / n


def request(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(REQUEST)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"hello"):
        sys.exit("aiohttp_cpu: unexpected answer %r" % data[:200])


def instructions(n, env, folder):
    out = os.path.join(folder, "callgrind.%d" % len(os.listdir(folder)))
    one_run(n, dict(env, PYTHONHASHSEED="0"), ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit("aiohttp_cpu: no totals in " + out)


def count(env, folder):
    return (instructions(300, env, folder) - instructions(100, env, folder)) / 200


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--preload", default=os.path.join(ROOT, "build", "libsockleak.so"))
    ap.add_argument("--callgrind", action="store_true", help="instructions per request instead of CPU time")
    args = ap.parse_args()
    bare = dict(os.environ)
    bare.pop("LD_PRELOAD", None)
    bare.pop("SOCKLEAK_OPTIONS", None)
    variants = [("tracebacks on", ""), ("python=0", "python=0")]
    if args.callgrind:
        print("aiohttp server: user-space instructions per request (callgrind, 300 minus 100 requests); preload %s"
              % args.preload)
        with tempfile.TemporaryDirectory() as folder:
            bare_ir = count(bare, folder)
            print("  %-14s %10.0f" % ("bare", bare_ir), flush=True)
            for label, options in variants:
                env = dict(bare, LD_PRELOAD=args.preload)
                if options:
                    env["SOCKLEAK_OPTIONS"] = options
                ir = count(env, folder)
                print("  %-14s %10.0f  (%+.0f, %.3fx)" % (label, ir, ir - bare_ir, ir / bare_ir), flush=True)
        return
    print("aiohttp server, %d requests (Connection: close) per run, %d pairs; preload %s" %
          (args.requests, args.pairs, args.preload))
    for label, options in variants:
        env = dict(bare, LD_PRELOAD=args.preload)
        if options:
            env["SOCKLEAK_OPTIONS"] = options
        ratios, bare_us = [], []
        for _ in range(args.pairs):
            a = one_run(args.requests, bare)
            b = one_run(args.requests, env)
            ratios.append(b / a)
            bare_us.append(a * 1e6)
        print("  %-14s server CPU per request %.3fx bare (median of %d pairs, %.3f-%.3f); bare %.0f us" %
              (label, statistics.median(ratios), len(ratios), min(ratios), max(ratios), statistics.median(bare_us)),
              flush=True)


if __name__ == "__main__":
    main()
