"""AWS CLI exports that say they are cut: an answer saved with a pagination token.

The AWS CLI reads every page of an answer by itself; one saved with ``--max-items``,
``--max-results`` or ``--no-paginate`` holds a page or a few and the token for the next
(``NextToken``). Whatever follows was not exported, so "none here" must not read as "none":
each reader of a saved answer (findings exports, ``lookup-events`` output) says so and marks
what it read as incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def next_token_problem(doc: Mapping[str, Any], what: str) -> str | None:
    """What an export that says it is cut means, or None: an AWS CLI answer holds a pagination
    token (``NextToken``) when it was exported with ``--max-items``, ``--max-results`` or
    ``--no-paginate`` (the CLI pages through every result by itself otherwise): the results after
    it were not exported, so "none here" must not read as "none"."""
    token = doc.get("NextToken", doc.get("nextToken"))
    if token is None or token == "":
        return None
    items = doc.get(what)
    n = len(items) if isinstance(items, list) else 0
    return (
        f"the export is cut: it holds the first {n:,} of its {what} and a NextToken saying more "
        "follow (exported with --max-items, --max-results or --no-paginate): those were not "
        "read; export again without them (the AWS CLI reads every page by itself)"
    )
