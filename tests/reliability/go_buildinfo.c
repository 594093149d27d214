/* A C program that looks like a Go program to sockleak (issue 10, item 14): it carries a
 * .go.buildinfo section, as every Go executable does, so the report must say that a Go
 * program's own system calls are out of sockleak's sight. No Go toolchain is needed. It makes
 * and closes one socket, properly. */
#include <sys/socket.h>
#include <unistd.h>

__attribute__((used, section(".go.buildinfo"))) static const char buildinfo[32] = "\xff Go buildinf:";

int main(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return fd < 0 || close(fd) != 0;
}
