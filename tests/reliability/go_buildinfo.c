/* A C program that looks like a Go program to sockleak (issue 10, item 14): it carries Go's
 * build-id note (.note.go.buildid, in a PT_NOTE segment, as go build writes it; sockleak reads
 * it from the mapped program headers) and a .go.buildinfo section, so the report must say that
 * a Go program's own system calls are out of sockleak's sight. No Go toolchain is needed. It
 * makes and closes one socket, properly. With "raw-exit" it then leaves as a Go program does,
 * through the exit_group system call itself (no exit(), so no exit path of sockleak's runs). */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((used, section(".go.buildinfo"))) static const char buildinfo[32] = "\xff Go buildinf:";

/* An ELF note as Go's linker writes it: name "Go\0\0" (n_namesz 4), type 4 (Go's build ID). */
__attribute__((used, section(".note.go.buildid"), aligned(4))) static const struct {
	uint32_t namesz, descsz, type;
	char name[4];
	char desc[8];
} go_note = {4, 8, 4, "Go", "abcdefg"};

int main(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int status = fd < 0 || close(fd) != 0;
	if (argc > 1 && strcmp(argv[1], "raw-exit") == 0)
		syscall(SYS_exit_group, status);
	return status;
}
