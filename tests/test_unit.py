"""The C unit tests of core/ (tests/unit/test_core.c), built with ASan and UBSan."""

import os

from common import BUILD, expect, run


def test_core():
    p = run([os.path.join(BUILD, "unit", "test_core")], timeout=60,
            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", LD_PRELOAD=""))
    lines = p.stdout.splitlines()
    expect(p.returncode == 0 and not p.stderr, "%s\n%s" % (p.stdout, p.stderr[-3000:]))
    expect(len(lines) >= 18 and all(l.startswith("ok ") for l in lines), p.stdout)
    return "%d unit tests" % len(lines)
