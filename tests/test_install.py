"""Install and everyday use (issue 13): 'make install' with PREFIX and DESTDIR, 'make uninstall'
and 'make deb', each from a copy of the source tree that is then removed, so that the installed
command can only find its pieces where it was installed; 'sockleak PROGRAM' as with valgrind;
every analyzer option accepted by 'sockleak run'."""

import json
import os
import sys
import re
import shutil
import subprocess
import tempfile

from common import BUILD, REPORT, ROOT, SOCKLEAK, expect, run

PROGS = os.path.join(BUILD, "analyzer", "testprogs")
LEAKY = os.path.join(PROGS, "leaky")

PYVER = "%d.%d" % sys.version_info[:2]
# The Python module goes where Debian's python3 finds it: lib/python3.N below /usr/local (or any
# prefix but /usr), lib/python3 below /usr (the Debian package).
MODULE = ["lib/python%s/dist-packages/sockleak/__init__.py" % PYVER,
          "lib/python%s/dist-packages/sockleak/pytest.py" % PYVER]
INSTALLED = ["bin/sockleak", "include/sockleak.h", "lib/sockleak/libsockleak.so", "lib/sockleak/sockleak-report",
             "share/man/man1/sockleak.1"] + MODULE + sorted(
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
        in_deb = [f.replace(".1", ".1.gz") if f.endswith(".1") else
                  f.replace("lib/python%s/" % PYVER, "lib/python3/") for f in INSTALLED]
        expect(listed == sorted("usr/" + f for f in in_deb), str(listed))
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
        values = {"FILE": os.path.join(tmp, "f"), "LEVEL": "never", "N": "42", "DIR": tmp, "WHICH": "all"}
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


# ---- the CI recipes of docs/ci.md ----

def ci_recipes():
    """{heading: [the lines of its fenced blocks]} of docs/ci.md."""
    recipes, heading, block = {}, None, None
    with open(os.path.join(ROOT, "docs", "ci.md")) as f:
        for line in f.read().splitlines():
            if line.startswith("## "):
                heading = line[3:]
            elif line.startswith("```"):
                block = [] if block is None else recipes.setdefault(heading, []).extend(block)
            elif block is not None:
                block.append(line)
    return recipes


def sockleak_lines(lines):
    found = []
    for line in lines:
        m = re.match(r"^\s*(?:- |run: )?(sockleak .*)$", line)
        if m:
            found.append(m.group(1))
    return found


def test_ci_recipes():
    """Every sockleak command line of docs/ci.md, run as written on a project whose tests leak a
    UDP socket (in the baseline) and a listener (suppressed): each passes; with a new leak each
    fails with 23, and the JUnit and SARIF files say why."""
    import xml.etree.ElementTree as ET
    recipes = ci_recipes()
    baseline = sockleak_lines(recipes["The baseline"])
    github = sockleak_lines(recipes["GitHub Actions"])
    gitlab = sockleak_lines(recipes["GitLab CI"])
    makefile = recipes["A plain Makefile target"]
    expect(len(baseline) == 1 and len(github) == 1 and len(gitlab) == 1, "%s %s %s" % (baseline, github, gitlab))
    expect(makefile[0] == "sockleak-check:" and len(sockleak_lines(makefile)) == 1 and makefile[1][0] == "\t",
           str(makefile))
    expect("--sarif sockleak.sarif" in github[0] and "sarif_file: sockleak.sarif" in "\n".join(recipes["GitHub Actions"]),
           "the GitHub recipe uploads the SARIF it writes")
    expect("junit: sockleak-junit.xml" in "\n".join(recipes["GitLab CI"]), "the GitLab recipe's JUnit report")
    with tempfile.TemporaryDirectory(prefix="sockleak-ci-") as tmp:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        os.symlink(SOCKLEAK, os.path.join(bindir, "sockleak"))
        project = os.path.join(tmp, "project")
        os.mkdir(project)
        with open(os.path.join(project, "Makefile"), "w") as f:
            f.write("test:\n\t%s udp tcp $(EXTRA)\n\n" % LEAKY + "\n".join(makefile) + "\n")
        with open(os.path.join(project, ".sockleak.supp"), "w") as f:
            f.write("never-closed:leak_tcp\n")
        env = clean_env(PATH=bindir + ":" + os.environ["PATH"])
        env.pop("EXTRA", None)

        def shell(line, **extra):
            return run(["/bin/sh", "-c", line], env=dict(env, **extra), cwd=project, timeout=120)

        r = shell(baseline[0])
        expect(r.returncode == 0, "the baseline: status %d\n%s" % (r.returncode, r.stderr))
        known = json.load(open(os.path.join(project, ".sockleak-baseline.json")))
        expect([t["kind"] for t in known["transports"] if t["flags"]] == ["udp4"], "baseline: %s" % known["transports"])
        runs = [("GitHub Actions", github[0]), ("GitLab CI", gitlab[0]), ("Makefile", "make sockleak-check")]
        for new in (False, True):
            for what, line in runs:
                for f in ("sockleak.sarif", "sockleak-junit.xml"):
                    if os.path.exists(os.path.join(project, f)):
                        os.unlink(os.path.join(project, f))
                r = shell(line, **({"EXTRA": "epoll"} if new else {}))
                status = 23 if not new or what != "Makefile" else 2
                if not new:
                    expect(r.returncode == 0, "%s: status %d, expected 0\n%s" % (what, r.returncode, r.stderr))
                else:
                    # make reports a failed recipe with its own status 2, after sockleak's 23.
                    expect(r.returncode == status and ("Error 23" in r.stderr if what == "Makefile" else True),
                           "%s with a new leak: status %d, expected %d\n%s" % (what, r.returncode, status, r.stderr))
                suite = ET.parse(os.path.join(project, "sockleak-junit.xml")).getroot()
                failures = sum(int(s.get("failures", "0")) for s in suite.iter("testsuite"))
                expect(failures == (1 if new else 0), "%s: %d JUnit failures" % (what, failures))
                if what == "GitHub Actions":
                    sarif = json.load(open(os.path.join(project, "sockleak.sarif")))
                    states = sorted(res.get("baselineState", "") for res in sarif["runs"][0]["results"])
                    expect(sarif["version"] == "2.1.0" and len(states) == (3 if new else 1),
                           "%s: SARIF results %s" % (what, states))
    return "3 recipes and the baseline: 0 as accepted, 23 with a new leak"


# ---- colour ----

def test_color_on_a_terminal_only():
    """--color auto (the default) paints the report only on a terminal; always and never force
    it; the JSON and the exit status are the same either way."""
    import pty
    red = "\033[1;31m"
    r = run([SOCKLEAK, LEAKY, "udp"], env=clean_env(TERM="xterm"))
    expect(r.returncode == 23 and "never-closed (error)" in r.stderr and "\033[" not in r.stderr,
           "auto, not a terminal: %r" % r.stderr[:300])
    r = run([SOCKLEAK, "--color", "always", LEAKY, "udp", "warn"], env=clean_env())
    expect(r.returncode == 23, "always: status %d" % r.returncode)
    lines = r.stderr.splitlines()
    expect(re.match(r"^\033\[1;31m==\d+==ERROR: sockleak: 2 transports not finished properly in .*\033\[0m$", lines[0]),
           repr(lines[0]))
    expect("  %snever-closed (error)\033[0m: still open (fd 3)" % red in r.stderr, repr(r.stderr))
    expect("  \033[1;35mclosed-while-registered (warning)\033[0m: " in r.stderr, repr(r.stderr))
    expect(re.search(r"^\033\[1mSUMMARY: sockleak: 1 error, 1 warning .*\033\[0m$", r.stderr, re.M), repr(r.stderr))
    expect("%ssockleak: FAILED: 1 error (--fail-on error): exit status 23\033[0m" % red in r.stderr, repr(r.stderr))
    plain = run([SOCKLEAK, "--color", "never", LEAKY, "udp", "warn"], env=clean_env())

    def norm(text):  # pids and addresses differ from run to run
        return re.sub(r"==\d+==|pid \d+|0x[0-9a-f]+", "N", text)
    expect(norm(re.sub(r"\033\[[0-9;]*m", "", r.stderr)) == norm(plain.stderr) and "\033[" not in plain.stderr,
           "the painted report is the plain one with colour added:\n%s\n%s" % (r.stderr, plain.stderr))
    # auto on a terminal: painted.
    master, slave = pty.openpty()
    try:
        p = subprocess.run([SOCKLEAK, LEAKY, "udp"], env=clean_env(TERM="xterm"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = None
        got = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    expect(p.returncode == 23 and red.encode() + b"==" in got, "auto on a terminal: %r" % got[:300])
    r = run([SOCKLEAK, "--color", "sometimes", LEAKY], env=clean_env())
    expect(r.returncode == 125 and "sockleak: run: --color sometimes: give auto, always or never" in r.stderr,
           r.stderr)
    return "painted on a terminal and with always; plain otherwise"
