"""asyncio streams over TLS, closed with wait_closed(): nothing to report."""

import asyncio
import ssl
import sys


async def main(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    writer.write(b"hello")
    await writer.drain()
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()


asyncio.run(main(int(sys.argv[1])))
