"""The notebook as each cell starts and ends (torinvest.report.saves): what orjson writes of it,
byte for byte, its long outputs serialized once."""

from __future__ import annotations

from pathlib import Path

import nbformat
import orjson
import pytest

from torinvest.report import saves
from torinvest.report.saves import KEPT_CHARS, NotebookSaves


class Text(str):
    """A str that is not exactly a str (left in the notebook as it is)."""


def _long(mark: str) -> str:
    return f"<script>var {mark} = 1;</script>" + "x" * KEPT_CHARS + '"\\\n\u2028é'


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# report"),
        nbformat.v4.new_code_cell("setup()"),
        nbformat.v4.new_code_cell("answer"),
    ]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="short\n"),
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": _long("a"), "text/plain": "<HTML>", "application/json": {"a": 1}},
        ),
        nbformat.v4.new_output("display_data", data={"text/html": _long("b")}),
    ]
    return nb


def test_each_save_is_the_notebook_as_orjson_writes_it(tmp_path: Path) -> None:
    """As cells run (outputs added, a display updated in place with another long text, the same
    text under two outputs, a token-like text, a str subclass), each save is orjson.dumps of the
    notebook at that moment, byte for byte, and nbformat reads it."""
    nb, writer, out = _notebook(), NotebookSaves(), tmp_path / "out.ipynb"

    def saved() -> None:
        writer.write(nb, out)
        assert out.read_bytes() == orjson.dumps(nb)
        nbformat.validate(nbformat.reads(out.read_text(encoding="utf-8"), as_version=4))

    saved()
    nb.cells[2].outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": "1"}))
    saved()
    nb.cells[1].outputs[1]["data"] = {"text/html": _long("c")}  # a display updated
    saved()
    nb.cells[1].outputs[2]["data"]["text/html"] = _long("d")  # changed in place
    saved()
    same = nb.cells[1].outputs[2]["data"]["text/html"]
    nb.cells[2].outputs.append(nbformat.v4.new_output("display_data", data={"text/html": same}))
    nb.cells[2].outputs.append(
        nbformat.v4.new_output("display_data", data={"text/plain": f'"torinvest-output-{0}"'})
    )
    saved()
    nb.cells[2].outputs.append(
        nbformat.v4.new_output("display_data", data={"x/y": Text(_long("e"))})
    )
    saved()


def test_a_long_output_is_serialized_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long output value is serialized at the first save that has it, not at every save; a
    value changed in place is serialized again (once)."""
    serialized: list[int] = []
    dumps = orjson.dumps

    def counted(value: object, *args: object, **kwargs: object) -> bytes:
        data = dumps(value, *args, **kwargs)  # type: ignore[arg-type]
        if len(data) >= KEPT_CHARS:
            serialized.append(len(data))
        return data

    monkeypatch.setattr(saves.orjson, "dumps", counted)
    nb, writer = _notebook(), NotebookSaves()
    for _ in range(5):
        assert b"".join(writer.pieces(nb)) == dumps(nb)
    assert len(serialized) == 2, "the long outputs were serialized at every save"
    nb.cells[1].outputs[2]["data"]["text/html"] = _long("d")
    for _ in range(3):
        assert b"".join(writer.pieces(nb)) == dumps(nb)
    assert len(serialized) == 3
