"""Reads and writes sockleak event logs (docs/event-log.md) byte by byte, for the tests that feed
the analyzer damaged or hand-made logs, and for scripts/make-fuzz-corpus."""

import struct

MAGIC = b"SOCKLEAK"
VERSION = 2
HEADER_SIZE = 64
COMMIT = 0x5C1E

PROCESS, MODULE, STACK, STRING, EVENT, NOTE = 1, 2, 3, 4, 5, 6
NATIVE, PYTHON = 1, 2

# Event types (core/event.h).
EV = dict(SOCKET=1, SOCKETPAIR=2, ACCEPT=3, RECEIVED=4, DUP=5, CLOSE=6, CLOSE_RANGE=7, SHUTDOWN=8,
          CONNECT=9, BIND=10, LISTEN=11, ADDR=12, EPOLL_CREATE=13, EPOLL_CTL=14, EXIT_PHASE=15, EXIT=16,
          EXEC=17, FORKED=18, INHERIT=19, INHERIT_EPOLL=20, SSL_NEW=32, SSL_FREE=33, SSL_CLEAR=34,
          SSL_BIND=35, SSL_HANDSHAKE=36, SSL_SHUTDOWN=37, SSL_SET_SHUTDOWN=38, SSL_QUIET=39,
          SSL_STATE=40, SSL_INHERIT=41, SEGMENT=21, RESTORE=22, RESTORE_PEER=23, RESTORE_FINDING=24,
          RESTORE_EPOLL=25, RESTORE_REG=26, RESTORE_TLS=27)


def header(pid, version=VERSION, header_size=HEADER_SIZE, start_ns=1, segment=0):
    return MAGIC + struct.pack("<IIIIQ", version, header_size, pid, segment, start_ns) + bytes(32)


def record(rtype, payload, commit=COMMIT, size=None):
    body = payload + bytes(-(8 + len(payload)) % 8)
    return struct.pack("<IHH", size if size is not None else 8 + len(body), rtype, commit) + body


def process(pid, ppid=1, forked_from=0, argv=("prog",), exe="/usr/bin/prog", start_ns=1, argc=None):
    strings = exe.encode() + b"\0" + b"".join(a.encode() + b"\0" for a in argv)
    return record(PROCESS, struct.pack("<IIIIQ", pid, ppid, forked_from,
                                       len(argv) if argc is None else argc, start_ns) + strings)


def module(path, base=0x400000, lo=0x400000, hi=0x500000, build_id=b""):
    return record(MODULE, struct.pack("<QQQB20s3x", base, lo, hi, len(build_id), build_id) + path.encode() + b"\0")


def native_stack(sid, pcs):
    return record(STACK, struct.pack("<IHH", sid, NATIVE, len(pcs)) + b"".join(struct.pack("<Q", p) for p in pcs))


def python_stack(sid, frames):
    """frames: (file string id, function string id, line), outermost first."""
    words = b"".join(struct.pack("<QQ", f | fn << 32, line) for f, fn, line in frames)
    return record(STACK, struct.pack("<IHH", sid, PYTHON, len(frames)) + words)


def string(sid, text):
    data = text.encode()
    return record(STRING, struct.pack("<II", sid, len(data)) + data)


def event(etype, fd=0, fd2=0, stack=0, pystack=0, a=0, b=0, obj=0, addr=b""):
    if isinstance(etype, str):
        etype = EV[etype]
    return record(EVENT, struct.pack("<HHiiIIIqqQ", etype, len(addr), fd, fd2, stack, pystack, 0, a, b, obj) + addr)


def note(text):
    return record(NOTE, text.encode() + b"\0")


def sockaddr_in(port, ip=(127, 0, 0, 1)):
    return struct.pack("<H", 2) + struct.pack(">H", port) + bytes(ip) + bytes(8)


def records(data):
    """The records of a log: [(offset, size, type, payload)], up to its end (a zero word)."""
    out, off = [], struct.unpack_from("<I", data, 12)[0]
    while off + 8 <= len(data):
        size, rtype, commit = struct.unpack_from("<IHH", data, off)
        if size == 0 and rtype == 0 and commit == 0:
            break
        out.append((off, size, rtype, data[off + 8:off + size]))
        off += size
    return out


def trim(data):
    """The log without the zero fill a killed process leaves after its last record."""
    recs = records(data)
    return data[:recs[-1][0] + recs[-1][1]] if recs else data[:HEADER_SIZE]


def event_fields(payload):
    """(type, addrlen, fd, fd2, stack, pystack, a, b, obj) of an EVENT record's payload."""
    t, alen, fd, fd2, st, py, _pad, a, b, obj = struct.unpack_from("<HHiiIIIqqQ", payload)
    return t, alen, fd, fd2, st, py, a, b, obj
