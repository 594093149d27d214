/* A C program that looks like a Go program to sockleak (issue 10, item 14): it carries Go's
 * build-id note (.note.go.buildid, in a PT_NOTE segment, as go build writes it; sockleak reads
 * it from the mapped program headers) and a .go.buildinfo section, so the report must say that
 * a Go program's own system calls are out of sockleak's sight. No Go toolchain is needed. It
 * makes and closes one socket, properly. */
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((used, section(".go.buildinfo"))) static const char buildinfo[32] = "\xff Go buildinf:";

/* An ELF note: name "Go" (3 bytes with its NUL, padded to 4), type 4 (Go's build ID). */
__attribute__((used, section(".note.go.buildid"), aligned(4))) static const struct {
	uint32_t namesz, descsz, type;
	char name[4];
	char desc[8];
} go_note = {3, 8, 4, "Go", "abcdefg"};

int main(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return fd < 0 || close(fd) != 0;
}
