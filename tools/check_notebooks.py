#!/usr/bin/env python3
"""Check that the repository's notebooks are pristine templates (``make lint``, CI, pre-commit).

Each ``notebooks/<name>.ipynb`` must have no outputs and no execution counts, no injected
parameters, a ``parameters`` cell of literal values at their defaults
(:data:`torinvest.notebooks.DEFAULTS`), and its ``.py`` pair must hold the same cells. A notebook
saved from JupyterLab after a run fails here with what to do::

    .venv/bin/python tools/check_notebooks.py [notebooks/*.ipynb]

Exit status 0 when every notebook is pristine, 1 otherwise (one line per problem).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torinvest.errors import TorinvestError
from torinvest.notebooks import template_problems


def pair_problems(path: Path) -> list[str]:
    """The ``.py`` pair beside ``path`` must hold the same cells (sources and tags)."""
    import jupytext
    import nbformat

    pair = path.with_suffix(".py")
    if not pair.exists():
        return [f"no paired {pair.name} (jupytext --sync {path.name})"]
    ipynb = nbformat.read(path, as_version=4)
    text = jupytext.read(pair, fmt="py:percent")

    def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
        return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]

    if cells(ipynb) != cells(text):
        return [f"{pair.name} and {path.name} differ: edit the .py, then jupytext --sync"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb of the checkout"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(
        (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")
    )
    failed = 0
    for path in paths:
        try:
            problems = template_problems(path) + pair_problems(path)
        except TorinvestError as e:
            problems = [str(e)]
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed += bool(problems)
    if failed:
        print(
            f"{failed} notebook(s) are not pristine: restore them (git checkout -- FILE) and work "
            "in a copy (torinvest notebook FINDING_ID …); see README, 'The notebooks'",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
