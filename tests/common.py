"""Paths and helpers shared by the test runner and the test modules."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
PRELOAD = os.path.join(BUILD, "libsockleak.so")
REPORT = os.path.join(BUILD, "sockleak-report")
SOCKLEAK = os.path.join(ROOT, "scripts", "sockleak")
PYTHON = "/usr/bin/python3"  # Debian's interpreter, whatever python3 is first on PATH


class Failure(Exception):
    """A test's expectation did not hold; the message says which."""


def run(cmd, timeout=60, env=None, **kw):
    """Runs a command with a time bound; returns the CompletedProcess (text mode)."""
    try:
        return subprocess.run(cmd, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    except subprocess.TimeoutExpired:
        raise Failure("%s timed out after %d s" % (cmd[0], timeout))


def expect(cond, message):
    if not cond:
        raise Failure(message)


def preload_env(options="", **extra):
    env = dict(os.environ, LD_PRELOAD=PRELOAD)
    if options:
        env["SOCKLEAK_OPTIONS"] = options
    else:
        env.pop("SOCKLEAK_OPTIONS", None)
    env.update(extra)
    return env


def make_cert(folder):
    """A self-signed ECDSA certificate for 127.0.0.1 / localhost, made at test time."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    p = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], timeout=30)
    if p.returncode != 0:
        raise Failure("openssl could not make a certificate: " + p.stderr)
    return cert, key


class TlsPeer:
    """tests/tls_peer.py in the background, without the preload; use in a with statement."""

    def __init__(self, folder, *options):
        cert, key = make_cert(folder)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        self.proc = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests", "tls_peer.py"), "--cert", cert,
                                      "--key", key] + list(options), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise Failure("the TLS peer did not start")
        self.port = int(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
