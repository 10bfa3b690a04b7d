"""The executed notebook written as each cell starts and ends (:class:`NotebookSaves`): its
long outputs serialized once per run, not at every save.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

#: Output values at least this long (plotly.js and the tables' code, 5.8 MB of a report's
#: notebook from its first cells on) are serialized once and kept (:class:`NotebookSaves`).
KEPT_CHARS = 64 * 1024


class NotebookSaves:
    """Writes a notebook as ``orjson.dumps`` does, byte for byte, each time.

    A report's notebook is written some 80 times (as each cell starts and ends), each time
    whole; from its first cells it holds the text of plotly.js and the tables' code. Each
    output value of at least :data:`KEPT_CHARS` is serialized once and its JSON kept (with the
    string itself, so that the key, its ``id``, names that string only); each write serializes
    the rest with a token in its place and writes the pieces in turn. That was 12 ms of CPU per
    write of a 6 MB notebook (a new 6 MB buffer each time), 3-4 ms now. An output changed in
    place (a display updated) holds another string: serialized then.
    """

    def __init__(self) -> None:
        self._tag = secrets.token_hex(8)
        self._kept: dict[int, tuple[str, bytes]] = {}

    def pieces(self, nb: Mapping[str, Any]) -> list[bytes]:
        """``orjson.dumps(nb)``, in pieces."""
        tokens: list[tuple[bytes, bytes]] = []
        cells = [self._cell(cell, tokens) for cell in nb.get("cells", [])]
        doc = orjson.dumps({**nb, "cells": cells} if tokens else nb)
        parts, at = [], 0
        for token, text in tokens:
            where = doc.find(token, at)
            if where < 0:  # not where it was put: the notebook as it is
                return [orjson.dumps(nb)]
            parts += [doc[at:where], text]
            at = where + len(token)
        parts.append(doc[at:])
        return parts

    def write(self, nb: Mapping[str, Any], path: str | Path) -> None:
        """Write ``nb`` to ``path`` (:meth:`pieces`)."""
        with open(path, "wb") as f:
            f.writelines(self.pieces(nb))

    def _cell(self, cell: Any, tokens: list[tuple[bytes, bytes]]) -> Any:
        """``cell``, or a copy with a token for each long output value (added to ``tokens``)."""
        outputs = cell.get("outputs") if isinstance(cell, Mapping) else None
        if not isinstance(outputs, list):
            return cell
        changed = None
        for index, output in enumerate(outputs):
            data = output.get("data") if isinstance(output, Mapping) else None
            if not isinstance(data, Mapping):
                continue
            long = [k for k, v in data.items() if type(v) is str and len(v) >= KEPT_CHARS]
            if not long:
                continue
            data = dict(data)
            for key in long:
                token = f"torinvest-output-{self._tag}-{len(tokens)}"
                tokens.append((orjson.dumps(token), self._json(data[key])))
                data[key] = token
            changed = changed or list(outputs)
            changed[index] = {**output, "data": data}
        return cell if changed is None else {**cell, "outputs": changed}

    def _json(self, text: str) -> bytes:
        kept = self._kept.get(id(text))
        if kept is None or kept[0] is not text:
            kept = self._kept[id(text)] = (text, orjson.dumps(text))
        return kept[1]
