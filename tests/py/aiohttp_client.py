"""The report that started sockleak: an aiohttp HTTPS client, one POST, the event loop closed
right after the session. With "fixed", it waits until the connection is really closed (the
socket released, after the peer's close_notify) before closing the loop."""

import asyncio
import sys

import aiohttp


async def post(url, fixed, transports):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        async with session.post(url, data=b"payload") as resp:
            resp.raise_for_status()
            await resp.read()
    if fixed:
        # session.close() only begins the TLS shutdown; the socket is released once the
        # peer's close_notify has arrived and connection_lost() has run.
        for transport in transports:
            sock = transport.get_extra_info("socket")
            for _ in range(200):
                if sock.fileno() == -1:
                    break
                await asyncio.sleep(0.05)


def main():
    url, fixed = sys.argv[1], sys.argv[2:] == ["fixed"]
    loop = asyncio.new_event_loop()
    transports = []
    if fixed:
        create_connection = loop.create_connection

        async def remember(*args, **kwargs):
            transport, protocol = await create_connection(*args, **kwargs)
            transports.append(transport)
            return transport, protocol

        loop.create_connection = remember
    loop.run_until_complete(post(url, fixed, transports))
    loop.close()


main()
