"""Language runtimes (issue 11 items 4-6): Perl's and Ruby's exit-time cleanup, the built-in
suppressions of runtimes' own internals, and a report that says what happened. Debian's perl,
ruby and python3, on loopback, against tests/tls_peer.py."""

import json
import os
import tempfile

from common import PYTHON, ROOT, TlsPeer, expect, preload_env, run

HERE = os.path.join(ROOT, "tests", "runtimes")
TLS_FLAGS = {"tls-shutdown-abandoned", "tls-no-close-notify", "tls-not-freed"}


def run_with_peer(cmd, peer_opts, tmp, options=""):
    """Runs cmd (PORT replaced) preloaded against a TLS peer; returns (process, JSON report)."""
    with TlsPeer(tmp, *peer_opts) as peer:
        cmd = [a.replace("PORT", str(peer.port)) for a in cmd]
        opts = "json=%s/r.json" % tmp + (":" + options if options else "")
        p = run(cmd, env=preload_env(opts), timeout=60)
    return p, json.load(open(tmp + "/r.json"))


def socket_flags(report):
    """Each transport's flags other than the TLS ones (those are test_tls.py's to check)."""
    return [sorted({f["flag"] for f in t["flags"]} - TLS_FLAGS) for t in report["transports"]]


def closed_at_exit_detail(report):
    return [f["detail"] for t in report["transports"] for f in t["flags"] if f["flag"] == "closed-at-exit"]


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
    expect(socket_flags(report) == [["closed-at-exit"]],
           "one transport, closed by Perl's global destruction: %s" % socket_flags(report))
    detail = closed_at_exit_detail(report)
    expect(detail == ["closed (fd 3) only during the Perl interpreter's global destruction at exit "
                      "(perl_destruct): nothing in the program closed it"], "detail %s" % detail)
    expect("Perl interpreter's global destruction" in p.stderr, "text report:\n" + p.stderr)


def test_perl_close_and_end_block_are_not_closed_at_exit():
    for how in ("close", "end"):
        with tempfile.TemporaryDirectory() as tmp:
            p, report = perl(how, tmp)
        expect(p.stdout == "got hello\n", "%s: perl's output %r\n%s" % (how, p.stdout, p.stderr))
        # An END block is the program's own code, like an atexit handler run before main returns.
        expect(all(f == [] for f in socket_flags(report)),
               "%s: the program closed its socket: %s" % (how, socket_flags(report)))
        expect(report["summary"]["transports_seen"] == 1, "%s: %s" % (how, report["summary"]))


def test_ruby_finalizers_are_closed_at_exit():
    with tempfile.TemporaryDirectory() as tmp:
        p, report = ruby("leave", tmp)
    expect(p.stdout == "ok\n", "ruby's output %r\n%s" % (p.stdout, p.stderr))
    expect(p.returncode == 23, "an error finding: exit status 23, got %d\n%s" % (p.returncode, p.stderr))
    expect(socket_flags(report) == [["closed-at-exit"]],
           "one transport, closed by Ruby's finalizers: %s" % socket_flags(report))
    detail = closed_at_exit_detail(report)
    expect(len(detail) == 1 and detail[0].endswith(
        "only by the Ruby interpreter's exit-time finalizers, after the at_exit blocks: nothing in the program "
        "closed it"), "detail %s" % detail)


def test_ruby_finish_and_at_exit_are_clean():
    for how in ("close", "at_exit"):
        with tempfile.TemporaryDirectory() as tmp:
            p, report = ruby(how, tmp)
        expect(p.stdout == "ok\n" and p.returncode == 0,
               "%s: status %d, output %r\n%s" % (how, p.returncode, p.stdout, p.stderr))
        expect(report["transports"] == [], "%s: nothing to report, got %s" % (how, socket_flags(report)))
        expect(report["summary"]["transports_seen"] == 1, "%s: %s" % (how, report["summary"]))
