"""A TLS peer for the tests, on 127.0.0.1, never preloaded.

Each connection: handshake, echo one message (or answer one HTTP request with --http), then
  --close-notify reply   answer the client's close_notify at once (a well-behaved peer)
  --close-notify late    answer it after --delay seconds (like a distant server)
  --close-notify never   close the socket without answering
  --initiate             send close_notify first, right after the echo
Prints the port on stdout, serves until stdin closes.
"""

import argparse
import os
import socket
import ssl
import sys
import threading
import time


def handle(conn, args):
    try:
        conn.settimeout(20)
        data = conn.recv(4096)
        if args.http:
            while b"\r\n\r\n" not in data:
                more = conn.recv(4096)
                if not more:
                    return
                data += more
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        else:
            conn.sendall(data)
        if args.initiate:
            time.sleep(0.1)
            conn.unwrap()
            return
        while True:
            more = conn.recv(4096)  # b"" once the client's close_notify (or EOF) arrives
            if not more:
                break
        if args.close_notify == "late":
            time.sleep(args.delay)
        if args.close_notify in ("reply", "late"):
            conn.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--close-notify", choices=["reply", "late", "never"], default="reply")
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--initiate", action="store_true")
    ap.add_argument("--http", action="store_true")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print(lsock.getsockname()[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    while True:
        raw, _ = lsock.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=handle, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
