"""Language runtimes (issue 11 items 4-6): Perl's and Ruby's exit-time cleanup, the built-in
suppressions of runtimes' own internals, and a report that says what happened. Debian's perl,
ruby and python3, on loopback, against tests/tls_peer.py."""

import json
import os
import tempfile

from common import PYTHON, ROOT, SOCKLEAK, TlsPeer, expect, preload_env, run

HERE = os.path.join(ROOT, "tests", "runtimes")
TLS_FLAGS = {"tls-shutdown-abandoned", "tls-no-close-notify", "tls-not-freed"}


def run_with_peer(cmd, peer_opts, tmp, options=""):
    """Runs cmd (PORT replaced) preloaded against a TLS peer; returns (process, JSON report)."""
    with TlsPeer(tmp, *peer_opts) as peer:
        cmd = [a.replace("PORT", str(peer.port)) for a in cmd]
        opts = "json=%s/r.json" % tmp + (":" + options if options else "")
        p = run(cmd, env=preload_env(opts), timeout=60)
    return p, json.load(open(tmp + "/r.json"))


def all_flags(report):
    return [sorted(f["flag"] for f in t["flags"]) for t in report["transports"]]


def socket_flags(report):
    """Each transport's flags other than the TLS ones (those are test_tls.py's to check)."""
    return [sorted({f["flag"] for f in t["flags"]} - TLS_FLAGS) for t in report["transports"]]


def closed_at_exit_detail(report):
    return [f["detail"] for t in report["transports"] for f in t["flags"] if f["flag"] == "closed-at-exit"]


def replayed(cmd, peer_opts, tmp):
    """The same run under sockleak run: the event log carries the exit phase to the analyzer."""
    with TlsPeer(tmp, *peer_opts) as peer:
        cmd = [a.replace("PORT", str(peer.port)) for a in cmd]
        env = dict(os.environ)
        env.pop("SOCKLEAK_OPTIONS", None)
        p = run([SOCKLEAK, "run", "--json", tmp + "/run.json", "--"] + cmd, env=env, timeout=60)
    return p, json.load(open(tmp + "/run.json"))


def perl(how, tmp):
    return run_with_peer(["perl", os.path.join(HERE, "perl_tls_client.pl"), how, "PORT"],
                         ["--close-notify", "reply"], tmp)


def ruby(how, tmp):
    return run_with_peer(["ruby", os.path.join(HERE, "ruby_https_client.rb"), how, "PORT"],
                         ["--http", "--close-notify", "reply"], tmp)


def test_perl_global_destruction_is_closed_at_exit():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = perl("leave", tmp)
    expect(p.stdout == "got hello\n", "perl's output %r\n%s" % (p.stdout, p.stderr))
    expect(p.returncode == 23, "an error finding: exit status 23, got %d\n%s" % (p.returncode, p.stderr))
    # IO::Socket::SSL's DESTROY frees the session with no SSL_shutdown (close(SSL_no_shutdown
    # => 1)): no close_notify was sent, and the warning says so (test_followups.py checks why).
    expect(all_flags(report) == [["closed-at-exit", "tls-no-close-notify"]],
           "one transport, closed by Perl's global destruction: %s" % all_flags(report))
    detail = closed_at_exit_detail(report)
    expect(detail == ["closed (fd 3) only during the Perl interpreter's global destruction at exit "
                      "(perl_destruct): nothing in the program closed it"], "detail %s" % detail)
    expect("Perl interpreter's global destruction" in p.stderr, "text report:\n" + p.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        p, report = replayed(["perl", os.path.join(HERE, "perl_tls_client.pl"), "leave", "PORT"],
                             ["--close-notify", "reply"], tmp)
    expect(p.returncode == 23 and all_flags(report) == [["closed-at-exit", "tls-no-close-notify"]] and
           closed_at_exit_detail(report) == detail, "sockleak run: status %d, %s, %s\n%s"
           % (p.returncode, all_flags(report), closed_at_exit_detail(report), p.stderr))


def test_perl_close_and_end_block_are_not_closed_at_exit():
    for how in ("close", "end"):
        with tempfile.TemporaryDirectory() as tmp:
            p, report = perl(how, tmp)
        expect(p.stdout == "got hello\n", "%s: perl's output %r\n%s" % (how, p.stdout, p.stderr))
        # An END block is the program's own code, like an atexit handler run before main returns.
        # IO::Socket::SSL's close sends close_notify (one SSL_shutdown) before SSL_free: nothing,
        # TLS included, to report.
        expect(p.returncode == 0 and report["transports"] == [],
               "%s: the program closed its session and socket: status %d, %s" % (how, p.returncode, all_flags(report)))
        expect(report["summary"]["transports_seen"] == 1, "%s: %s" % (how, report["summary"]))


def test_ruby_finalizers_are_closed_at_exit():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = ruby("leave", tmp)
    expect(p.stdout == "ok\n", "ruby's output %r\n%s" % (p.stdout, p.stderr))
    expect(p.returncode == 23, "an error finding: exit status 23, got %d\n%s" % (p.returncode, p.stderr))
    # Ruby's SSLSocket finalizer frees the session with no SSL_shutdown (gdb: SSL_free, never
    # SSL_shutdown): no close_notify was sent, and the warning says so.
    expect(all_flags(report) == [["closed-at-exit", "tls-no-close-notify"]],
           "one transport, closed by Ruby's finalizers: %s" % all_flags(report))
    detail = closed_at_exit_detail(report)
    expect(len(detail) == 1 and detail[0].endswith(
        "only by the Ruby interpreter's exit-time finalizers, after the at_exit blocks: nothing in the program "
        "closed it"), "detail %s" % detail)
    with tempfile.TemporaryDirectory() as tmp:
        p, report = replayed(["ruby", os.path.join(HERE, "ruby_https_client.rb"), "leave", "PORT"],
                             ["--http", "--close-notify", "reply"], tmp)
    expect(p.returncode == 23 and all_flags(report) == [["closed-at-exit", "tls-no-close-notify"]] and
           closed_at_exit_detail(report) == detail, "sockleak run: status %d, %s, %s\n%s"
           % (p.returncode, all_flags(report), closed_at_exit_detail(report), p.stderr))


def test_ruby_finish_and_at_exit_are_clean():
    for how in ("close", "at_exit"):
        with tempfile.TemporaryDirectory() as tmp:
            p, report = ruby(how, tmp)
        expect(p.stdout == "ok\n" and p.returncode == 0,
               "%s: status %d, output %r\n%s" % (how, p.returncode, p.stdout, p.stderr))
        expect(report["transports"] == [], "%s: nothing to report, got %s" % (how, socket_flags(report)))
        expect(report["summary"]["transports_seen"] == 1, "%s: %s" % (how, report["summary"]))


# ---- built-in suppressions of runtimes' internals ----

TRIO_ECHO = '''
import functools, trio
async def handler(stream):
    await stream.send_all(await stream.receive_some(100))
    await stream.aclose()
async def main():
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"hi")
        assert await stream.receive_some(100) == b"hi"
        await stream.aclose()
        nursery.cancel_scope.cancel()
trio.run(main)
print("done")
'''


def write_script(tmp, text):
    path = os.path.join(tmp, "prog.py")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_trio_wakeup_socketpairs_are_suppressed_by_default():
    with tempfile.TemporaryDirectory() as tmp:
        script = write_script(tmp, TRIO_ECHO)
        p = run([PYTHON, script], env=preload_env("json=%s/on.json" % tmp), timeout=60)
        on = json.load(open(tmp + "/on.json"))
        q = run([PYTHON, script], env=preload_env("json=%s/off.json:default_suppressions=0" % tmp), timeout=60)
        off = json.load(open(tmp + "/off.json"))
    expect(p.returncode == 0 and p.stdout == "done\n", "status %d, output %r\n%s" % (p.returncode, p.stdout, p.stderr))
    expect(on["transports"] == [], "a correct trio program: nothing to report, got %s" % socket_flags(on))
    expect(on["summary"]["suppressed"] == 2, "trio's two wakeup socketpairs: %s" % on["summary"])
    used = [(s["flag"], s["pattern"], s["hits"], s["built_in"]) for s in on["suppressions"] if s["hits"]]
    expect(used == [("reader-not-removed", "trio/_core/_wakeup_socketpair.py", 2, True)], "used: %s" % used)
    expect(p.stderr == "", "nothing reported, so nothing printed:\n" + p.stderr)
    # Off: the finding is literally true, and comes back.
    expect(q.returncode == 23, "default_suppressions=0: exit status %d\n%s" % (q.returncode, q.stderr))
    expect(socket_flags(off) == [["reader-not-removed"], ["reader-not-removed"]] and
           all(t["kind"] == "unix-stream" and t["role"] == "pair" for t in off["transports"]),
           "the two wakeup socketpairs: %s" % [(t["kind"], t["role"], socket_flags(off)) for t in off["transports"]])
    expect(off["summary"]["suppressed"] == 0 and all(s["hits"] == 0 for s in off["suppressions"]),
           "nothing suppressed: %s" % off["suppressions"])


def test_trio_suppressions_in_sockleak_run():
    with tempfile.TemporaryDirectory() as tmp:
        script = write_script(tmp, TRIO_ECHO)
        env = dict(os.environ)
        env.pop("SOCKLEAK_OPTIONS", None)
        p = run([SOCKLEAK, "run", "--json", tmp + "/on.json", "--", PYTHON, script], env=env, timeout=60)
        on = json.load(open(tmp + "/on.json"))
        env["SOCKLEAK_OPTIONS"] = "default_suppressions=0"
        q = run([SOCKLEAK, "run", "--json", tmp + "/off.json", "--", PYTHON, script], env=env, timeout=60)
        off = json.load(open(tmp + "/off.json"))
        env.pop("SOCKLEAK_OPTIONS")
        r = run([SOCKLEAK, "run", "--no-default-suppressions", "--", PYTHON, script], env=env, timeout=60)
    expect(p.returncode == 0 and on["transports"] == [], "status %d, %s\n%s" % (p.returncode, on["transports"], p.stderr))
    expect("Suppressions used:\n  count template\n      2 reader-not-removed:trio/_core/_wakeup_socketpair.py "
           "(built in)\n" in p.stderr,
           "the analyzer lists the built-in rule with its count:\n" + p.stderr)
    expect(q.returncode == 23 and socket_flags(off) == [["reader-not-removed"], ["reader-not-removed"]],
           "default_suppressions=0 reaches the analyzer: status %d, %s" % (q.returncode, socket_flags(off)))
    expect(r.returncode == 23 and "reader-not-removed: 2" in r.stderr,
           "--no-default-suppressions: status %d\n%s" % (r.returncode, r.stderr))


TORNADO_CURRENT = '''
import asyncio
from tornado.ioloop import IOLoop
async def main():
    await asyncio.sleep(0.01)
IOLoop.current().run_sync(main)
print("done")
'''

ASYNCIO_OWN_SOCKET = '''
import asyncio, socket
loop = asyncio.new_event_loop()
async def main():
    global s
    s = socket.socket()  # the program's own, never closed
loop.run_until_complete(main())
print("done")
'''


def test_asyncio_self_pipe_left_to_shutdown_is_suppressed_but_not_the_programs_socket():
    with tempfile.TemporaryDirectory() as tmp:
        p = run([PYTHON, write_script(tmp, TORNADO_CURRENT)], env=preload_env("json=%s/t.json" % tmp), timeout=60)
        tornado = json.load(open(tmp + "/t.json"))
        q = run([PYTHON, write_script(tmp, ASYNCIO_OWN_SOCKET)], env=preload_env("json=%s/a.json" % tmp), timeout=60)
        own = json.load(open(tmp + "/a.json"))
    expect(p.returncode == 0 and tornado["transports"] == [] and tornado["summary"]["suppressed"] == 2,
           "tornado's IOLoop.current(): status %d, %s, %s\n%s"
           % (p.returncode, socket_flags(tornado), tornado["summary"], p.stderr))
    expect(q.returncode == 23 and socket_flags(own) == [["closed-at-exit"]] and own["summary"]["suppressed"] == 2,
           "the program's own socket is still reported: status %d, %s, %s" % (q.returncode, socket_flags(own), own["summary"]))
    t = own["transports"][0]
    expect(t["kind"] == "tcp4" and t["python_traceback"][-2]["function"] == "main", "%s %s" % (t["kind"], t["python_traceback"]))


# ---- the report says what happened ----

def headings(text):
    """The lines of the first transport, indented two spaces: flags, the TLS line, stack headings."""
    body = text.split("\nTransport #", 1)[1].split("\n\n", 1)[0]
    return [line[2:] for line in body.split("\n")[1:] if line.startswith("  ") and not line.startswith("   ")]


def test_flags_then_tls_line_then_stacks():
    p = run([os.path.join(ROOT, "build", "testapps", "demo_server")], env=preload_env(), timeout=30)
    got = [h.split(":")[0] for h in headings(p.stderr)]
    expect(got == ["never-closed (error)", "reader-not-removed (error)",
                   "registered with epoll at (reader-not-removed)", "opened at"],
           "every flag first, then each stack under its heading: %s\n%s" % (got, p.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        p, _ = perl("leave", tmp)
    got = [h.split(":")[0] for h in headings(p.stderr)]
    expect(got == ["closed-at-exit (error)", "tls-no-close-notify (warning)", "TLS (client)",
                   "SSL object made at", "SSL_free at", "opened at"],
           "no flag between another flag's stack and the TLS line: %s\n%s" % (got, p.stderr))


def test_tls_line_names_ssl_set_bio():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_with_peer([os.path.join(ROOT, "build", "testapps", "tls_set_bio"), "PORT"],
                                  ["--close-notify", "reply"], tmp)
    expect(p.returncode == 0, "a warning only: status %d\n%s" % (p.returncode, p.stderr))
    ts = report["transports"]
    expect(len(ts) == 1 and [f["flag"] for f in ts[0]["flags"]] == ["tls-no-close-notify"] and
           ts[0]["tls"]["bound"] == "fd", "one session, no close_notify: %s" % ts)
    tls_lines = [h for h in headings(p.stderr) if h.startswith("TLS (")]
    expect(tls_lines == ["TLS (client): handshake completed; no close_notify sent; SSL_free called; "
                         "bound with SSL_set_bio (a socket BIO)"], "TLS line %s" % tls_lines)


def test_local_address_of_a_nonblocking_connect():
    app = os.path.join(ROOT, "build", "testapps", "tls_nonblocking_connect")
    with tempfile.TemporaryDirectory() as tmp:
        p, report = run_with_peer([app, "PORT"], ["--close-notify", "reply"], tmp)
        with TlsPeer(tmp, "--close-notify", "reply") as peer:
            env = dict(os.environ)
            env.pop("SOCKLEAK_OPTIONS", None)
            q = run([SOCKLEAK, "run", "--json", tmp + "/run.json", "--", app, str(peer.port)], env=env, timeout=60)
        replayed = json.load(open(tmp + "/run.json"))
    for name, proc, rep in (("preload", p, report), ("sockleak run", q, replayed)):
        ts = rep["transports"]
        expect(proc.returncode == 0 and len(ts) == 1 and [f["flag"] for f in ts[0]["flags"]] == ["tls-no-close-notify"],
               "%s: status %d, %s\n%s" % (name, proc.returncode, ts, proc.stderr))
        local = ts[0]["local"] or ""
        expect(local.startswith("127.0.0.1:") and local != "127.0.0.1:0",
               "%s: the local address, learned when connect returned EINPROGRESS: %r" % (name, local))
        expect("tcp4 client, fd 3, 127.0.0.1:" in proc.stderr, "%s: text report:\n%s" % (name, proc.stderr))


def test_program_named_as_the_user_ran_it():
    with tempfile.TemporaryDirectory() as tmp:
        link = os.path.join(tmp, "renamed-client")
        os.symlink(os.path.join(ROOT, "build", "testapps", "never_closed"), link)
        p = run([link], env=preload_env("json=%s/r.json:symbolize=0" % tmp), timeout=30)
        report = json.load(open(tmp + "/r.json"))
    modules = [f["module"] for t in report["transports"] for f in t["opened_at"]]
    expect(p.returncode == 23 and report["argv"] == [link], "status %d, argv %s" % (p.returncode, report["argv"]))
    expect(link in modules and not any(m.endswith("/never_closed") for m in modules),
           "the program's frames are in the file as it was run (%s): %s" % (link, modules))
    expect("(%s+0x" % link in p.stderr, "text report:\n" + p.stderr)


def test_redis_server_is_reported_as_redis_server():
    redis = "/usr/bin/redis-server"
    expect(os.path.realpath(redis).endswith("/redis-check-rdb"), "Debian's redis-server is a symlink to redis-check-rdb")
    import subprocess
    import time
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "redis.sock")
        server = subprocess.Popen([redis, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
                                   "--dir", tmp], env=preload_env("json=%s/r.json:symbolize=0" % tmp),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(sock) and time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.05)
            ping = run(["redis-cli", "-s", sock, "ping"], env=dict(os.environ, LD_PRELOAD=""), timeout=20)
            run(["redis-cli", "-s", sock, "shutdown", "nosave"], env=dict(os.environ, LD_PRELOAD=""), timeout=20)
            _, err = server.communicate(timeout=20)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        report = json.load(open(tmp + "/r.json"))
    expect(ping.stdout.strip() == "PONG", "redis-cli ping: %r %r" % (ping.stdout, ping.stderr))
    expect(report["argv"][0] == redis, "argv %s" % report["argv"])
    expect(" in %s (pid " % redis in err, "the header names redis-server:\n" + err)
    modules = {f["module"] for t in report["transports"] for f in t["opened_at"]}
    expect(redis in modules and not any("redis-check-rdb" in m for m in modules),
           "frames name redis-server, not the file it links to: %s" % sorted(modules))
