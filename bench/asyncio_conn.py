"""The asyncio workload of scripts/bench: N connections, server and client in one process.

Each connection is opened with asyncio.open_connection, sends a line, reads the server's echo,
and both ends close and wait for the close: nothing for sockleak to report. The Python
traceback of each transport is what this measures (issue 12): a connection makes a client
socket, an accepted socket and their epoll registrations, each taken with the stack of asyncio's
frames above it. Prints the same result lines as bench/benchlib.h."""

import asyncio
import resource
import sys
import time


async def echo(reader, writer):
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def one(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\n")
    await writer.drain()
    if await reader.readline() != b"ping\n":
        raise SystemExit("asyncio_conn: wrong echo")
    writer.close()
    await writer.wait_closed()


async def main(n):
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    start = time.monotonic()
    for _ in range(n):
        await one(port)
    seconds = time.monotonic() - start
    server.close()
    await server.wait_closed()
    return seconds


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if n <= 0:
        raise SystemExit("usage: asyncio_conn.py [COUNT]  (COUNT > 0)")
    seconds = asyncio.run(main(n))
    print("asyncio: %d connections in %.3f s: %.2f us per connection" % (n, seconds, seconds * 1e6 / n))
    print("bench-result workload=asyncio unit=connection units=%d seconds=%.6f rss_kb=%d" % (n, seconds, rss_kb()))
    sys.stdout.flush()
    print("bench-main-end %.6f" % time.monotonic())
    sys.stdout.flush()
