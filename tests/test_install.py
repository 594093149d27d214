"""Install and everyday use (issue 13): 'make install' with PREFIX and DESTDIR, 'make uninstall'
and 'make deb', each from a copy of the source tree that is then removed, so that the installed
command can only find its pieces where it was installed; 'sockleak PROGRAM' as with valgrind;
every analyzer option accepted by 'sockleak run'."""

import json
import os
import re
import shutil
import subprocess
import tempfile

from common import BUILD, REPORT, ROOT, SOCKLEAK, Failure, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
LEAKY = os.path.join(PROGS, "leaky")

INSTALLED = ["bin/sockleak", "lib/sockleak/libsockleak.so", "lib/sockleak/sockleak-report",
             "share/man/man1/sockleak.1"] + sorted(
    "share/doc/sockleak/" + os.path.basename(p) for p in
    ["README.md"] + [os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")])


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOCKLEAK_OPTIONS", "LD_PRELOAD", "SOCKLEAK_PRELOAD", "SOCKLEAK_REPORT")}
    env.update(extra)
    return env


def version():
    with open(os.path.join(ROOT, "core", "report.h")) as f:
        return re.search(r'^#define SOCKLEAK_VERSION "(.*)"$', f.read(), re.M).group(1)


def files_below(top):
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)


def make(src, *args):
    r = run(["make", "--no-print-directory", "-C", src, "-j2"] + list(args), timeout=600)
    expect(r.returncode == 0, "make %s: status %d\n%s" % (" ".join(args), r.returncode, r.stderr[-3000:]))


def check_installed_command(prefix, tmp, what):
    """The command installed under PREFIX: its pieces found there, its version the source's, and
    a run gated on as from the build tree."""
    cmd = os.path.join(prefix, "bin", "sockleak")
    r = run([cmd, "--print-preload"], env=clean_env())
    expect(r.returncode == 0 and r.stdout == os.path.join(prefix, "lib", "sockleak", "libsockleak.so") + "\n",
           "%s: --print-preload: %r %s" % (what, r.stdout, r.stderr))
    r = run([cmd, "--version"], env=clean_env())
    expect(r.stdout == "sockleak %s\n" % version(), "%s: --version: %r" % (what, r.stdout))
    out = os.path.join(tmp, "r.json")
    r = run([cmd, "--json", out, LEAKY, "udp"], env=clean_env(), cwd=tmp)
    expect(r.returncode == 23, "%s: sockleak PROGRAM: status %d\n%s" % (what, r.returncode, r.stderr))
    doc = json.load(open(out))
    found = [(t["kind"], [f["flag"] for f in t["flags"]]) for t in doc["transports"]]
    expect(found == [("udp4", ["never-closed"])], "%s: %s" % (what, found))
    r = run([cmd, "/bin/sh", "-c", 'echo "$LD_PRELOAD"'], env=clean_env(), cwd=tmp)
    expect(r.returncode == 0 and r.stdout == os.path.join(prefix, "lib", "sockleak", "libsockleak.so") + "\n",
           "%s: the command's LD_PRELOAD: %r" % (what, r.stdout))


def test_make_install_uninstall_and_deb_from_a_removed_tree():
    with tempfile.TemporaryDirectory(prefix="sockleak-install-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns("build", ".git"))
        dest, again = os.path.join(tmp, "dest"), os.path.join(tmp, "again")
        make(src, "install", "DESTDIR=" + dest)
        make(src, "deb")
        deb = os.path.join(src, "build", "sockleak_%s_amd64.deb" % version())
        expect(os.path.isfile(deb), "make deb made no %s" % deb)
        shutil.copy(deb, tmp)
        deb = os.path.join(tmp, os.path.basename(deb))
        # make uninstall takes away everything make install put there.
        make(src, "install", "DESTDIR=" + again, "PREFIX=/opt/sl")
        expect(files_below(again) == sorted("opt/sl/" + f for f in INSTALLED), str(files_below(again)))
        make(src, "uninstall", "DESTDIR=" + again, "PREFIX=/opt/sl")
        expect(files_below(again) == [], "left by make uninstall: %s" % files_below(again))
        # The source and build trees are gone: the installed command has only itself to go by.
        shutil.rmtree(src)

        prefix = os.path.join(dest, "usr", "local")
        expect(files_below(dest) == sorted("usr/local/" + f for f in INSTALLED), str(files_below(dest)))
        with open(os.path.join(prefix, "bin", "sockleak")) as f:
            script = f.read()
        expect(src not in script and ROOT not in script, "the installed command names a source tree")
        check_installed_command(prefix, tmp, "make install")
        r = run(["man", "-w", "sockleak"], env=clean_env(MANPATH=os.path.join(prefix, "share", "man")))
        expect(r.stdout == os.path.join(prefix, "share", "man", "man1", "sockleak.1") + "\n", "man -w: %r" % r.stdout)
        r = run(["man", "-P", "cat", "sockleak"], env=clean_env(MANPATH=os.path.join(prefix, "share", "man"),
                                                                 MANWIDTH="80"))
        expect(r.returncode == 0 and "sockleak %s" % version() in r.stdout and "--print-preload" in r.stdout,
               "man sockleak: %s" % r.stderr)
        # Moved elsewhere, it finds its pieces where it now is.
        moved = os.path.join(tmp, "moved")
        os.rename(prefix, moved)
        check_installed_command(moved, tmp, "moved")

        # The Debian package: its fields, its contents, and its command run from an extracted copy.
        r = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"])
        fields = dict(l.split(": ", 1) for l in r.stdout.splitlines())
        expect(fields["Package"] == "sockleak" and fields["Version"] == version() and fields["Architecture"] == "amd64",
               str(fields))
        depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
        expect(sorted(depends) == ["libc6", "libdw1", "libjansson4", "libunwind8", "python3"], fields["Depends"])
        expect(re.match(r"libc6 \(>= 2\.\d+\)", fields["Depends"]), fields["Depends"])
        for d in depends:  # each is a Debian 12 package (installed here)
            q = run(["dpkg-query", "-W", "-f", "${Status}", d])
            expect("install ok installed" in q.stdout, "dependency %s is not a known package" % d)
        r = run(["dpkg-deb", "-c", deb])
        listed = sorted(l.split()[-1][2:] for l in r.stdout.splitlines() if not l.startswith("d"))
        expect(listed == sorted("usr/" + f.replace(".1", ".1.gz") if f.endswith(".1") else "usr/" + f
                                for f in INSTALLED), str(listed))
        expect(all(l.split()[1] == "root/root" for l in r.stdout.splitlines()), "owner not root:\n" + r.stdout)
        extracted = os.path.join(tmp, "x")
        r = run(["dpkg-deb", "-x", deb, extracted])
        expect(r.returncode == 0, r.stderr)
        check_installed_command(os.path.join(extracted, "usr"), tmp, "the .deb")
    return "installed, moved, uninstalled; %s" % os.path.basename(deb)


# ---- sockleak PROGRAM, and one list of options ----

def test_sockleak_program_is_sockleak_run():
    with tempfile.TemporaryDirectory(prefix="sockleak-prog-") as tmp:
        out = os.path.join(tmp, "r.json")
        r = run([SOCKLEAK, LEAKY, "udp", "exit=3"], env=clean_env(), cwd=tmp)
        expect(r.returncode == 23 and "never-closed (error)" in r.stderr, "status %d\n%s" % (r.returncode, r.stderr))
        r = run([SOCKLEAK, "--json", out, "--fail-on", "never", LEAKY, "udp", "exit=3"], env=clean_env(), cwd=tmp)
        expect(r.returncode == 3, "options first: status %d\n%s" % (r.returncode, r.stderr))
        expect(len(json.load(open(out))["transports"]) == 1, "the JSON report")
        r = run([SOCKLEAK, "--", LEAKY, "exit=4"], env=clean_env(), cwd=tmp)
        expect(r.returncode == 4, "--: status %d" % r.returncode)
        r = run([SOCKLEAK, "--bogus", LEAKY], env=clean_env(), cwd=tmp)
        expect(r.returncode == 125 and "sockleak: run: unknown option '--bogus'" in r.stderr, r.stderr)
    return "23, 3 with --fail-on never, 4, 125"


def test_run_takes_every_option_of_the_analyzer():
    """The wrapper's options are the analyzer's: each one sockleak-report --help lists is accepted
    by 'sockleak run' and has its effect."""
    text = run([REPORT, "--help"]).stdout
    listed = re.findall(r"^  (?:-\w, )?(--[a-z-]+)(?: ([A-Z]+))?", text, re.M)
    names = [n for n, _ in listed if n not in ("--help", "--version")]
    expect(len(names) >= 13 and "--source-root" in names, "the analyzer lists %s" % names)
    with tempfile.TemporaryDirectory(prefix="sockleak-opts-") as tmp:
        values = {"FILE": os.path.join(tmp, "f"), "LEVEL": "never", "N": "42", "DIR": tmp}
        with open(os.path.join(tmp, "supp"), "w") as f:
            f.write("never-closed:nothing_matches_this\n")
        for name, meta in listed:
            if name in ("--help", "--version"):
                continue
            value = {"--suppressions": os.path.join(tmp, "supp"), "--baseline": None}.get(name, values.get(meta))
            if name == "--baseline":
                r = run([SOCKLEAK, "run", "-q", "--json", os.path.join(tmp, "base.json"), "--", LEAKY],
                        env=clean_env(), cwd=tmp)
                value = os.path.join(tmp, "base.json")
            args = [name] + ([value] if meta else [])
            r = run([SOCKLEAK, "run"] + args + ["--", LEAKY, "exit=5"], env=clean_env(), cwd=tmp)
            expect(r.returncode == 5, "sockleak run %s: status %d\n%s" % (" ".join(args), r.returncode, r.stderr))
        # --source-root has its effect: the SARIF's SRCROOT.
        sarif = os.path.join(tmp, "s.sarif")
        r = run([SOCKLEAK, "run", "-q", "--sarif", sarif, "--source-root", os.path.join(tmp, "root"), "--",
                 LEAKY, "udp"], env=clean_env(), cwd=tmp)
        expect(r.returncode == 23, "status %d\n%s" % (r.returncode, r.stderr))
        bases = json.load(open(sarif))["runs"][0]["originalUriBaseIds"]
        expect(bases == {"SRCROOT": {"uri": "file://%s/root/" % tmp}}, str(bases))
    return "%d options" % len(names)
