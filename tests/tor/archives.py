"""Test archives of exit lists, built as CollecTor publishes them."""

from __future__ import annotations

import io
import tarfile


def tar_xz(members: dict[str, bytes]) -> bytes:
    """A ``.tar.xz`` holding ``members`` (name → bytes), in that order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
