"""sockleak checkpoints from Python: which part of a program (which test) left a socket or a TLS
session behind.

    import sockleak
    mark = sockleak.mark()
    run_one_test()
    if sockleak.check(mark, "test_reconnect"):
        ...

    with sockleak.checkpoint("test_reconnect") as cp:
        run_one_test()
    cp.count   # transports made inside the block and still open at its end

check() reports the transports made since the mark that are still unfinished (open, and still
registered in an event loop's epoll set if they are), with the report's usual text under a
heading naming the label, where the exit report goes (stderr or log_path), and returns how many.
Without the preload (LD_PRELOAD=libsockleak.so, or `sockleak run`) every call returns 0:
active() says which.
"""

import ctypes

__all__ = ["active", "mark", "check", "check_text", "checkpoint"]

_TEXT_MAX = 1 << 20  # check_text's text is cut there

_mark = _check = _check_text = None
try:
    _self = ctypes.CDLL(None)  # the program and everything loaded globally: the preload among them
    _mark = _self.sockleak_mark
    _check = _self.sockleak_check
    _check_text = _self.sockleak_check_text
except (OSError, AttributeError):
    _mark = _check = _check_text = None
else:
    _check_text.restype = ctypes.c_ulong
    _check_text.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    _mark.restype = ctypes.c_uint64
    _mark.argtypes = []
    _check.restype = ctypes.c_ulong
    _check.argtypes = [ctypes.c_uint64, ctypes.c_char_p]


def active():
    """Whether sockleak is preloaded into this process (checks do something)."""
    return _mark is not None


def mark():
    """A checkpoint: the transports made after it are the ones check() looks at. 0 without the
    preload."""
    return _mark() if _mark is not None else 0


def check(mark, label="checkpoint"):
    """Reports the transports made since mark that are still unfinished now; returns how many."""
    if _check is None or not mark:
        return 0
    if isinstance(label, str):
        label = label.encode("utf-8", "replace")
    return int(_check(mark, label))


def check_text(mark, label="checkpoint"):
    """As check(), but returns (count, report text) instead of writing the text out."""
    if _check_text is None or not mark:
        return 0, ""
    if isinstance(label, str):
        label = label.encode("utf-8", "replace")
    buf = ctypes.create_string_buffer(_TEXT_MAX)
    n = int(_check_text(mark, label, buf, _TEXT_MAX))
    return n, buf.value.decode("utf-8", "replace")


class checkpoint:
    """A with block checked at its end: count holds how many transports made inside it were
    still unfinished when it ended (0 without the preload)."""

    def __init__(self, label="checkpoint"):
        self.label = label
        self.mark = 0
        self.count = 0

    def __enter__(self):
        self.mark = mark()
        return self

    def __exit__(self, *exc):
        self.count = check(self.mark, self.label)
        return False
