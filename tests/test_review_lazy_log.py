"""A hostile review of the event log made at a process's first event (issue 12): the cases the
first tests left out, each a defect found and fixed (docs/reliability.md, "Review of the event
log at the first event")."""

import os
import subprocess
import tempfile

from common import BUILD, SOCKLEAK, expect, run

LAZY = os.path.join(BUILD, "analyzer", "testprogs", "lazy")


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD")}


def test_no_descriptor_and_no_room_for_a_link_is_still_lost_evidence():
    # A tmpfs whose 5 inodes are the mount, the run folder, its two files and the marker: the
    # command takes every descriptor but one and makes its first socket there. Its log cannot be
    # created (EMFILE), the lost-evidence file cannot be opened (EMFILE), and the link that says
    # so cannot be made (ENOSPC: no inode). On df0b2cd nothing was written at all, and the run
    # passed with status 0 and "no process recorded a transport"; now the marker is renamed to
    # the process's lost-evidence name (no descriptor, no inode) and the run fails on the loss.
    # Needs root for the mount, as tests/test_lazy_log.py.
    with tempfile.TemporaryDirectory(prefix="sockleak-review4-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        keep = os.path.join(mnt, "run")
        script = ("mount -t tmpfs -o size=1m,nr_inodes=5,mode=0700 sockleak-test %s || exit 99\n"
                  "%s run --keep %s -- %s emfile; echo \"status $?\"; ls %s" % (mnt, SOCKLEAK, keep, LAZY, keep))
        p = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=clean_env(), timeout=120)
        expect(p.returncode != 99, "cannot mount a tmpfs (this test needs root): " + p.stderr)
        out = p.stdout.splitlines()
        expect(out[:2] == ["socket 23 errno 0", "status 125"], "%s\n%s" % (p.stdout, p.stderr))
        names = sorted(n for n in out[2:] if n)
        expect(len(names) == 3 and names[:2] == ["exit-status", "lost-evidence"] and
               names[2].startswith("lost-evidence.") and names[2].endswith(".m"), "run folder: %s" % names)
        pid = names[2].split(".")[1]
        lost = [l for l in p.stderr.splitlines() if "EVIDENCE LOST" in l]
        expect(lost == ["sockleak: EVIDENCE LOST: process %s: lost events, and could not say why (no descriptor "
                        "left, and no room in the run directory for a link)" % pid], "lost %s\n%s" % (lost, p.stderr))
        expect("no process recorded a transport" not in p.stderr and "no process ran with the preload" not in p.stderr
               and p.stderr.count("sockleak: cannot create an event log in %s: Too many open files" % keep) == 1,
               p.stderr)
    return "EMFILE and no inode at the first socket: 125, the loss named"
