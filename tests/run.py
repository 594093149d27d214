"""The test runner behind `make check`.

Runs every test program in testapps/ (tests/apps.py checks its report exactly) and every test
function in tests/test_*.py, a few at a time, each bounded in time and in its own temporary
folder. Prints one line per test and exits non-zero when any fails.

  python3 tests/run.py               all tests
  python3 tests/run.py PATTERN ...   tests whose name contains a PATTERN
"""

import concurrent.futures
import glob
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apps  # noqa: E402
from common import ROOT, Failure  # noqa: E402


def collect():
    tests = [("app:" + n, lambda n=n: apps.check_app(n)) for n in apps.app_names()]
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "test_*.py"))):
        mod = importlib.import_module(os.path.basename(path)[:-3])
        for name in sorted(dir(mod)):
            if name.startswith("test_") and callable(getattr(mod, name)):
                tests.append(("%s:%s" % (mod.__name__[5:], name[5:]), getattr(mod, name)))
    return tests


def run_one(item):
    name, fn = item
    start = time.monotonic()
    try:
        note = fn()
        return name, True, note or "", time.monotonic() - start
    except Failure as e:
        return name, False, str(e), time.monotonic() - start
    except Exception:
        return name, False, traceback.format_exc(), time.monotonic() - start


def main(argv):
    tests = collect()
    if argv:
        tests = [t for t in tests if any(p in t[0] for p in argv)]
    jobs = int(os.environ.get("SOCKLEAK_TEST_JOBS", "3"))
    failed = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, ok, note, secs in pool.map(run_one, tests):
            print("%s %-44s %5.1fs  %s" % ("PASS" if ok else "FAIL", name, secs,
                                           note.splitlines()[0] if ok and note else ""), flush=True)
            if not ok:
                failed.append(name)
                print("    " + note.replace("\n", "\n    "), flush=True)
    print("\n%d tests, %d failed, %.0f s" % (len(tests), len(failed), time.monotonic() - start))
    for name in failed:
        print("  FAILED: " + name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
