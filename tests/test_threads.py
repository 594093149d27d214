"""Issue 12: threads and epoll. The lock is taken once per close (a close's end is handed to the
next thread that takes it), epoll_ctl has a path of its own, and the event log gets a close's
end when the next thread takes the lock. These check that the findings stay exact: live, through
`sockleak run` (the analyzer replays the log with the ends where they were logged), and with the
event log's path and the direct path mixed in one program."""

import json
import os
import tempfile

from common import BUILD, ROOT, expect, run

SOCKLEAK = os.path.join(ROOT, "scripts", "sockleak")
APP = os.path.join(BUILD, "testapps", "threads_close_create")
# testapps/threads_close_create.c: 12 leaked by the workers, 6 left registered in an epoll set
# they close, 6 made (and kept) by the first signal handler of each worker.
EXPECTED = sorted([("udp4", "socket", "never-closed")] * 12 + [("udp4", "socket", "reader-not-removed")] * 6 +
                  [("unix-dgram", "socket", "never-closed")] * 6)


def found(transports):
    return sorted((t["kind"], t["role"] or "none", ",".join(sorted(f["flag"] for f in t["flags"])))
                  for t in transports)


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}


def test_threads_closing_and_creating_through_sockleak_run():
    # The same exact report from the replayed event log as from the live preload (app:
    # threads_close_create): every close's end, logged when the next thread took the lock,
    # replays to the same transports.
    for rnd in range(3):
        with tempfile.TemporaryDirectory(prefix="sockleak-threads-") as tmp:
            out = os.path.join(tmp, "r.json")
            r = run([SOCKLEAK, "run", "--json", out, "--", APP], env=clean_env(), timeout=120, cwd=tmp)
            expect(r.returncode == 23, "sockleak run status %d\n%s" % (r.returncode, r.stderr[-3000:]))
            with open(out) as f:
                doc = json.load(f)
        got = found(doc["transports"])
        expect(got == EXPECTED, "round %d: %s" % (rnd, got))
        seen = doc["summary"]["transports_seen"] if "summary" in doc else None
        expect(seen is None or seen >= 6 * 2001 + 6, "transports_seen %s" % seen)
    return "24 findings, exact, in 3 runs under sockleak run"


def test_epoll_registration_changed_by_mod_is_named_by_its_add():
    # Registrations made, changed (MOD) and removed on epoll_ctl's own path; the one left behind
    # when its epoll set is closed is reader-not-removed, registered at the line of its ADD, live
    # (the direct path) and through sockleak run (the event log's path).
    src = r'''#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
	int ep = epoll_create1(0);
	for (int i = 0; i < 50; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev); /* line 10 */
		ev.events = EPOLLIN | EPOLLOUT;
		epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
		if (i == 49) {
			ev.events = EPOLLOUT;
			epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
			close(ep);
		} else {
			epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
		}
		close(s);
	}
	return 0;
}
'''
    with tempfile.TemporaryDirectory(prefix="sockleak-epoll-") as tmp:
        c = os.path.join(tmp, "mod.c")
        exe = os.path.join(tmp, "mod")
        with open(c, "w") as f:
            f.write(src)
        p = run(["cc", "-g", "-O0", "-o", exe, c], timeout=60)
        expect(p.returncode == 0, p.stderr)
        live_json = os.path.join(tmp, "live.json")
        env = clean_env()
        env["LD_PRELOAD"] = os.path.join(BUILD, "libsockleak.so")
        env["SOCKLEAK_OPTIONS"] = "json=" + live_json
        p = run([exe], env=env, timeout=60, cwd=tmp)
        expect(p.returncode == 23, "live status %d\n%s" % (p.returncode, p.stderr))
        with open(live_json) as f:
            live = json.load(f)
        out = os.path.join(tmp, "run.json")
        r = run([SOCKLEAK, "run", "--json", out, "--", exe], env=clean_env(), timeout=120, cwd=tmp)
        expect(r.returncode == 23, "run status %d\n%s" % (r.returncode, r.stderr))
        with open(out) as f:
            wrapped = json.load(f)
    for name, doc in (("live", live), ("run", wrapped)):
        expect(found(doc["transports"]) == [("udp4", "socket", "reader-not-removed")],
               "%s: %s" % (name, found(doc["transports"])))
        at = doc["transports"][0]["flags"][0].get("registered_at") or []
        expect([(f["function"], f["line"]) for f in at][:1] == [("main", 10)],
               "%s: registered at %s, expected main, line 10" % (name, [(f.get("function"), f.get("line")) for f in at]))
        expect(doc["summary"]["transports_seen"] == 50 if "summary" in doc else True, "%s: %s" % (name, doc.get("summary")))
    return "reader-not-removed at its ADD's line, live and through sockleak run"
