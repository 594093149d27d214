"""Review of issue 12 (start-up): the symbol walk that replaced dlsym finds what dlsym finds."""

import os
import tempfile

from common import PRELOAD, expect, run

# A library that interposes close() with an assembly entry point, as hand-written interposers
# and some runtimes define functions: the symbol has no .type, so it is STT_NOTYPE.
NOTYPE_LIB = r"""
#include <sys/syscall.h>
#include <unistd.h>
int interposer_closes;
__attribute__((used, visibility("hidden"))) long counted_close(int fd)
{
	interposer_closes++;
	return syscall(SYS_close, fd);
}
__asm__(".text\n.globl close\nclose:\n\tjmp counted_close\n");
"""

PROGRAM = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
	for (int i = 0; i < 3; i++)
		printf("close %d\n", close(socket(AF_INET, SOCK_STREAM, 0)));
	int *n = dlsym(RTLD_DEFAULT, "interposer_closes");
	printf("closes through the interposer: %d\n", n ? *n : -1);
	return 0;
}
"""


def test_an_interposer_loaded_after_sockleak_with_an_untyped_symbol_is_called():
    """LD_PRELOAD="libsockleak.so libclose.so": dlsym(RTLD_NEXT, "close") finds libclose.so's
    close, an STT_NOTYPE symbol; the walk took only STT_FUNC and STT_GNU_IFUNC and went on to
    the C library's close, so the program's closes no longer went through the other interposer
    (it passes on 0f09691, which asked dlsym)."""
    with tempfile.TemporaryDirectory() as tmp:
        lib_src, src = os.path.join(tmp, "libclose.c"), os.path.join(tmp, "prog.c")
        lib, exe = os.path.join(tmp, "libclose.so"), os.path.join(tmp, "prog")
        with open(lib_src, "w") as f:
            f.write(NOTYPE_LIB)
        with open(src, "w") as f:
            f.write(PROGRAM)
        for cmd in (["cc", "-shared", "-fPIC", "-o", lib, lib_src], ["cc", "-o", exe, src, "-ldl"]):
            p = run(cmd, timeout=60)
            expect(p.returncode == 0, "build failed:\n" + p.stderr)
        syms = run(["readelf", "--dyn-syms", "-W", lib], timeout=30).stdout
        expect(any(line.split()[3:4] == ["NOTYPE"] and line.split()[-1] == "close" for line in syms.splitlines()),
               "close is not an STT_NOTYPE symbol:\n" + syms)
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
        bare = run([exe], env=dict(env, LD_PRELOAD=lib))
        want = "close 0\nclose 0\nclose 0\ncloses through the interposer: 3\n"
        expect(bare.returncode == 0 and bare.stdout == want, "bare: %d %r" % (bare.returncode, bare.stdout))
        pre = run([exe], env=dict(env, LD_PRELOAD="%s %s" % (os.environ.get("SOCKLEAK_TEST_PRELOAD", PRELOAD), lib)))
        expect(pre.returncode == 0 and pre.stdout == want,
               "preloaded: %d %r (bare %r)\n%s" % (pre.returncode, pre.stdout, want, pre.stderr))
