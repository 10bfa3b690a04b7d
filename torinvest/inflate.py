"""Bounded decompression of whole files: gzip (every member), xz and bzip2, recognized by
their magic bytes. A file that inflates past ``limit`` bytes raises :class:`TooLargeError`
after holding at most ``limit + 1`` inflated bytes, so a decompression bomb (a few MB that
inflate to gigabytes) costs no more memory than the limit. Other content is returned as is.

Used by the readers of findings exports and Tor exit lists; CloudTrail log files have their
own per-file limit (``--max-file-mb``, :func:`torinvest.sources.logs.gunzip`).
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from collections.abc import Callable
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZ2_MAGIC = re.compile(rb"BZh[1-9]1AY&SY")

#: The default limit of one file's inflated bytes (findings exports, exit lists): 512 MiB.
DEFAULT_LIMIT = 512 << 20

#: What a damaged compressed stream raises.
DAMAGED = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)


class TooLargeError(ValueError):
    """The content inflates past the limit (``limit``, bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"it inflates to more than {mib(limit)}")
        self.limit = limit


def mib(n: int) -> str:
    """``n`` bytes in words (MiB from 1 MiB up)."""
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def compression(data: bytes) -> str | None:
    """``gzip``, ``xz`` or ``bzip2`` from the magic bytes; None for anything else."""
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(XZ_MAGIC):
        return "xz"
    if BZ2_MAGIC.match(data):
        return "bzip2"
    return None


def inflate(data: bytes, limit: int = DEFAULT_LIMIT) -> bytes:
    """``data`` decompressed (gzip, xz or bzip2, every concatenated stream), or as is when it
    is not compressed. TooLargeError past ``limit`` bytes; a damaged or truncated stream raises
    one of :data:`DAMAGED` (EOFError when it ends early)."""
    kind = compression(data)
    if kind is None:
        return data
    makers: dict[str, tuple[Callable[[], Any], bytes | re.Pattern[bytes]]] = {
        "gzip": (lambda: zlib.decompressobj(wbits=31), GZIP_MAGIC),
        "xz": (lzma.LZMADecompressor, XZ_MAGIC),
        "bzip2": (bz2.BZ2Decompressor, BZ2_MAGIC),
    }
    make, magic = makers[kind]
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        d = make()
        piece = d.decompress(rest, limit - total + 1)
        total += len(piece)
        if total > limit:
            raise TooLargeError(limit)
        out.append(piece)
        if not d.eof:
            raise EOFError(f"the {kind} stream ends early: the file is truncated")
        rest = d.unused_data
        if not (rest.startswith(magic) if isinstance(magic, bytes) else magic.match(rest)):
            break
    return out[0] if len(out) == 1 else b"".join(out)
