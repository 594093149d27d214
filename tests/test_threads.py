"""Issue 12: threads and epoll. A close's end never waits for the lock (the closing thread
applies it when the lock is free, else hands it to the next thread that takes it), epoll_ctl has
a path of its own, each thread takes sockleak's memory from a cache of its own, and the event
log gets a close's end when it is applied. These check that the findings stay exact: live, through
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


# Each thread takes sockleak's blocks from a cache of its own (core/arena.h, issue 12). A thread
# that exits gives its cache back (a pthread key's destructor), and a forked child gives back
# the caches of the threads it does not have. sockleak_memory's in_use counts what the state and
# the caches' own records hold, not the free blocks waiting in caches: so a cache never given
# back shows as its record, and as memory that grows round after round.
CACHES_SRC = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 12
#define SOCKETS 150

static void (*memory)(size_t *, size_t *);
static int leaking;
static int ready[2], go[2];

static size_t in_use(void)
{
	size_t used, mapped;
	memory(&used, &mapped);
	return used;
}

/* SOCKETS sockets made, registered, removed and closed; with leak, the middle one kept open. */
static void churn(int leak)
{
	int ep = epoll_create1(0);
	for (int i = 0; i < SOCKETS; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		if (s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0 || epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) != 0)
			abort();
		if (!(leak && i == SOCKETS / 2))
			close(s);
	}
	close(ep);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	churn(leaking && id % 3 != 0); /* 8 of 12 leak one */
	return NULL;
}

/* Twelve threads at once, half of them on 16 KiB stacks; each exits with blocks in its cache. */
static void round_of_threads(void)
{
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		if (i % 2)
			pthread_attr_setstacksize(&attr, 16384);
		if (pthread_create(&t[i], &attr, worker, (void *)i) != 0)
			abort();
		pthread_attr_destroy(&attr);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
}

/* A thread that keeps its cache, and one leaked socket, until told to go. */
static void *keeper(void *arg)
{
	(void)arg;
	churn(1);
	char c = 1;
	if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
		abort();
	return NULL;
}

/* A child: what sockleak holds at its start, then a socket of its own leaked (its report's one). */
static void child(const char *name)
{
	pid_t pid = fork();
	if (pid == 0) {
		dprintf(1, "%s %zu\n", name, in_use());
		churn(1);
		exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	dprintf(1, "%s-status %d\n", name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
	memory = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "sockleak_memory");
	if (!memory || pipe(ready) || pipe(go))
		return 2;
	churn(0); /* the main thread's own cache */
	leaking = 1;
	round_of_threads();
	size_t m1 = in_use();
	leaking = 0;
	round_of_threads();
	size_t m2 = in_use();
	round_of_threads();
	size_t m3 = in_use();
	dprintf(1, "rounds %zu %zu %zu\n", m1, m2, m3);
	pthread_t k;
	char c;
	if (pthread_create(&k, NULL, keeper, NULL) != 0 || read(ready[0], &c, 1) != 1)
		return 2;
	child("with-keeper");
	if (write(go[1], &c, 1) != 1)
		return 2;
	pthread_join(k, NULL);
	dprintf(1, "parent %zu\n", in_use());
	child("after-keeper");
	return 0;
}
'''


def test_thread_caches_given_back_at_exit_and_by_a_forked_child():
    # Three rounds of 12 threads (half on 16 KiB stacks), each ending with blocks in its cache:
    # sockleak holds the same bytes after each round. A child forked while a thread holds its
    # cache starts with what a child forked after that thread exited starts with. The findings
    # are exact: the 8 sockets leaked by the first round's threads and the keeper's one, none
    # of the 5,700 closed, and each child's own leak in its own report.
    with tempfile.TemporaryDirectory(prefix="sockleak-caches-") as tmp:
        c = os.path.join(tmp, "caches.c")
        exe = os.path.join(tmp, "caches")
        with open(c, "w") as f:
            f.write(CACHES_SRC)
        p = run(["cc", "-g", "-O1", "-pthread", "-o", exe, c], timeout=60)
        expect(p.returncode == 0, p.stderr)
        env = clean_env()
        env["LD_PRELOAD"] = os.path.join(BUILD, "libsockleak.so")
        env["SOCKLEAK_OPTIONS"] = "json=%s/r.%%p.json" % tmp
        p = run([exe], env=env, timeout=120, cwd=tmp)
        expect(p.returncode == 23, "status %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr[-3000:]))
        lines = dict(l.split(" ", 1) for l in p.stdout.splitlines())
        docs = {}
        for name in os.listdir(tmp):
            if name.startswith("r.") and name.endswith(".json"):
                with open(os.path.join(tmp, name)) as f:
                    doc = json.load(f)
                docs[doc["process"]["pid"] if "process" in doc else name] = doc
    m1, m2, m3 = (int(x) for x in lines["rounds"].split())
    expect(m1 == m2 == m3, "bytes held after each round of threads: %d, %d, %d" % (m1, m2, m3))
    expect(lines["with-keeper-status"] == "23" and lines["after-keeper-status"] == "23",
           "children's status: %s" % lines)
    expect(int(lines["with-keeper"]) == int(lines["after-keeper"]) == int(lines["parent"]),
           "a child forked while a thread held its cache starts with %s bytes, one forked after it exited "
           "with %s, the parent then holds %s" % (lines["with-keeper"], lines["after-keeper"], lines["parent"]))
    got = sorted(found(d["transports"]) for d in docs.values())
    want = sorted([[("udp4", "socket", "never-closed")]] * 2 + [[("udp4", "socket", "never-closed")] * 9])
    expect(got == want, "reports: %s" % got)
    return "%d bytes after each round; children start with %s bytes" % (m1, lines["parent"])


KEYS_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
static void *worker(void *arg) { (void)arg; return NULL; }
int main(void)
{
	pthread_key_t a, b;
	int fd = socket(AF_INET, SOCK_DGRAM, 0); /* sockleak has recorded something before the keys */
	if (fd < 0 || pthread_key_create(&a, NULL) != 0)
		return 2;
	printf("before the first thread: %u\n", (unsigned)a);
	pthread_t t;
	if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 3;
	if (pthread_key_create(&b, NULL) != 0)
		return 4;
	printf("after: %u\n", (unsigned)b);
	close(fd);
	return 0;
}
"""


def test_a_program_without_threads_numbers_its_pthread_keys_as_bare():
    # The threads' arena caches take a pthread key; made at start-up it shifted every program's
    # key numbers (README, Limits). It is made at the first pthread_create: the keys a program
    # makes before its first thread are numbered as bare, and those after it one higher
    # (stack_depth=0: libunwind, which takes a key of its own, is not loaded).
    with tempfile.TemporaryDirectory(prefix="sockleak-keys-") as tmp:
        source, prog = os.path.join(tmp, "keys.c"), os.path.join(tmp, "keys")
        with open(source, "w") as f:
            f.write(KEYS_C)
        r = run(["gcc", "-O1", "-pthread", "-o", prog, source], timeout=120)
        expect(r.returncode == 0, "gcc: %s" % r.stderr)
        bare = run([prog], env=clean_env(), timeout=60)
        env = dict(clean_env(), LD_PRELOAD=os.path.join(BUILD, "libsockleak.so"), SOCKLEAK_OPTIONS="stack_depth=0")
        pre = run([prog], env=env, timeout=60)
        expect(bare.returncode == 0 and pre.returncode == 0, "status %d / %d\n%s" % (bare.returncode, pre.returncode,
                                                                                   pre.stderr[-2000:]))
        b, p = bare.stdout.splitlines(), pre.stdout.splitlines()
        expect(len(b) == 2 and len(p) == 2, "output: %r / %r" % (b, p))
        expect(p[0] == b[0], "a key made before the first thread: %r preloaded, %r bare" % (p[0], b[0]))
        expect(int(p[1].split()[-1]) == int(b[1].split()[-1]) + 1,
               "a key made after the first thread: %r preloaded, %r bare (sockleak's key is one)" % (p[1], b[1]))
        return "key %s before the first thread, as bare; %s after it (bare %s)" % (
            p[0].split()[-1], p[1].split()[-1], b[1].split()[-1])
