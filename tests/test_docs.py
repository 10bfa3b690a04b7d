"""The documentation links only what exists: every relative link and image in README.md and
docs/*.md names a file of the repository, and every #anchor a heading of the file it points to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file (code blocks and code spans left out)."""
    text = _CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in _HEADING.findall(text):
        plain = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")
        n, candidate = 0, slug
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_name_files_that_exist(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, …
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists() or ROOT not in (path, *path.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert broken == []


def test_the_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The link finder and GitHub's anchors, on the shapes the docs use."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "# Organization scale: DuckDB and Athena\n## summary.json\n"
        '[a](docs/DESIGN.md) ![b](img/x.png "t") [c](#summaryjson) [d](https://e.org)\n'
        "`[not](a-link.md)`\n```\n[nor](this.md)\n```\n"
    )
    assert links(doc) == ["docs/DESIGN.md", "img/x.png", "#summaryjson", "https://e.org"]
    assert anchors(doc) == {"organization-scale-duckdb-and-athena", "summaryjson"}
