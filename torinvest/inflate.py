"""Bounded decompression of whole files: gzip (every member), xz and bzip2, recognized by
their magic bytes. A file that inflates past ``limit`` bytes raises :class:`TooLargeError`
after holding at most ``limit + 1`` inflated bytes, so a decompression bomb (a few MB that
inflate to gigabytes) costs no more memory than the limit. Other content is returned as is.

Used by the readers of findings exports and Tor exit lists; CloudTrail log files have their
own per-file limit (``--max-file-mb``, :func:`torinvest.sources.logs.gunzip`).
"""

from __future__ import annotations

import bz2
import codecs
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


#: Byte-order marks and their codecs, longest first (UTF-32 LE's begins with UTF-16 LE's).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def json_utf8(data: bytes) -> bytes:
    """JSON bytes as UTF-8, whatever Unicode encoding wrote them: a UTF-8 byte-order mark is
    removed; UTF-16 or UTF-32 with a byte-order mark (PowerShell 5's ``aws … > f.json``), or
    UTF-16 without one (JSON's first character is ASCII, so one of its first two bytes is NUL),
    is transcoded — undecodable bytes become U+FFFD. Anything else is returned as it is: only
    the first bytes are looked at."""
    head = data[:4]
    codec = next((c for bom, c in _BOMS if head.startswith(bom)), None)
    if codec is None and len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        codec = "utf-16-be" if head[0] == 0 else "utf-16-le"
    if codec is None:
        return data
    if codec == "utf-8-sig":
        return data[len(codecs.BOM_UTF8) :]
    return data.decode(codec, errors="replace").encode("utf-8", errors="replace")
