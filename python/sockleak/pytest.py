"""pytest plugin: fails each test that leaves a socket or a TLS session behind.

    LD_PRELOAD=libsockleak.so python3 -m pytest -p sockleak.pytest
    sockleak run -- python3 -m pytest -p sockleak.pytest

Each test is judged after its function-scoped fixtures were torn down: a transport made by the
test (its setup, call or teardown) that is still open then makes the test's teardown fail, with
sockleak's report of it (the transport, its flags, the Python traceback of the line that made
it). --sockleak-warn turns the failure into a warning. A test whose setup first made a fixture
of a wider scope (module, session, ...) is judged from the start of its call instead, since that
fixture's sockets rightly outlive it. Without the preload the plugin says once that the checks
are off, and does nothing else.
"""

import sys
import warnings

import pytest

import sockleak

_MARK = "_sockleak_mark"
_RESULT = "_sockleak_result"


def pytest_addoption(parser):
    group = parser.getgroup("sockleak")
    group.addoption("--sockleak-warn", action="store_true", default=False,
                    help="sockleak: warn about a test that leaves a transport open instead of failing it")


def pytest_configure(config):
    if not sockleak.active():
        sys.stderr.write("sockleak: not preloaded (run under LD_PRELOAD=libsockleak.so or 'sockleak run'): "
                         "the per-test leak checks are off\n")


def _makes_wider_fixture(item):
    """Whether setting up this test will make a fixture of a scope wider than the function."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for defs in info.name2fixturedefs.values():
        for fd in defs:
            if getattr(fd, "scope", "function") != "function" and getattr(fd, "cached_result", None) is None:
                return True
    return False


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    if not sockleak.active():
        yield
        return
    wider = _makes_wider_fixture(item)
    setattr(item, _MARK, sockleak.mark())
    yield
    if wider:
        setattr(item, _MARK, sockleak.mark())


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    mark = getattr(item, _MARK, 0)
    if mark:
        setattr(item, _RESULT, sockleak.check_text(mark, item.nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "teardown":
        return
    count, text = getattr(item, _RESULT, (0, ""))
    if not count:
        return
    message = "sockleak: %s left %d transport%s unfinished after its fixtures were torn down\n\n%s" % (
        item.nodeid, count, "" if count == 1 else "s", text)
    if item.config.getoption("sockleak_warn"):
        warnings.warn_explicit(pytest.PytestWarning(message), category=None, filename=str(item.path),
                               lineno=(item.location[1] or 0) + 1)
        return
    rep = outcome.get_result()
    if rep.outcome == "passed":
        rep.outcome = "failed"
        rep.longrepr = message
