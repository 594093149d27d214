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
