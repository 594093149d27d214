"""TLS sessions whose peer hangs up without close_notify (issue 7, from CPython's own tests).

  tls_peer_hangup.py blocking PORT     ssl.SSLSocket: unwrap() sends close_notify and waits; the
                                       peer (tls_peer.py --close-notify never) closes instead
  tls_peer_hangup.py asyncio PORT      the same with asyncio streams: writer.close() and
                                       wait_closed(), as test_asyncio.test_ssl's clients do
  tls_peer_hangup.py peer-first        an asyncio client and, in this same process, a blocking
                                       server thread that closes its SSLSocket without unwrap()
                                       (test_asyncio.test_sslproto's servers): the client sees
                                       end of file first and sends no close_notify of its own

In each, the program did what it could: only the in-process server of peer-first, which never
sent close_notify, has something to report (tls-no-close-notify).
"""

import asyncio
import socket
import ssl
import sys
import threading


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def blocking(port):
    s = client_context().wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.sendall(b"hello")
    assert s.recv(5) == b"hello"
    try:
        s.unwrap()  # close_notify sent; the peer hangs up instead of answering
    except (ssl.SSLError, OSError):
        pass
    s.close()


async def asyncio_client(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
    writer.write(b"hello")
    await writer.drain()
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    try:
        await writer.wait_closed()
    except (ssl.SSLError, OSError):
        pass


def peer_first(cert, key):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    def serve():
        raw, _ = lsock.accept()
        conn = sctx.wrap_socket(raw, server_side=True)
        conn.sendall(conn.recv(5))
        conn.shutdown(socket.SHUT_RDWR)  # no unwrap(): the end of the stream, no close_notify
        conn.close()

    t = threading.Thread(target=serve)
    t.start()

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        assert await reader.read() == b""  # the server's end of file
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, OSError):
            pass

    asyncio.run(client())
    t.join()
    lsock.close()


if __name__ == "__main__":
    if sys.argv[1] == "blocking":
        blocking(int(sys.argv[2]))
    elif sys.argv[1] == "asyncio":
        asyncio.run(asyncio_client(int(sys.argv[2])))
    else:
        peer_first(sys.argv[2], sys.argv[3])
    print("done", flush=True)
