"""http.client.HTTPSConnection never closed. With "exit": os._exit(0) at the end."""

import http.client
import os
import ssl
import sys

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx)
conn.request("GET", "/")
assert conn.getresponse().read() == b"ok"
if sys.argv[2:] == ["exit"]:
    os._exit(0)
