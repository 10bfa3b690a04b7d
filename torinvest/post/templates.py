"""``--post-each TEMPLATE``: the destination each finding of a batch is posted to.

A template is a destination (``torinvest.post.base``): ``jira-new:PROJECT`` makes one Jira issue
per finding and remembers it (the finding's ``posts.json``, else the issue's
``torinvest-finding-<id>`` label), so a later run updates that issue; ``securityhub`` updates each
finding's own Security Hub copy; a fixed destination (``jira:SEC-1``,
``servicenow:incident:SYS_ID``, ``security-ir:CASE_ID``) receives every finding's report.
:func:`resolve` says which one a finding's post goes to.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from torinvest.post.base import DestinationSpec, parse_destination
from torinvest.post.record import POSTS_FILE, latest_remote


def canonical(template: str | DestinationSpec) -> str:
    """The canonical text of a template (what posting records and outcomes name)."""
    spec = template if isinstance(template, DestinationSpec) else parse_destination(template)
    return spec.text


def resolve(template: str | DestinationSpec, folder: str | Path) -> str:
    """Where ``template`` posts the report in ``folder``: ``jira:KEY`` once a ``jira-new`` issue
    was made (or found) for that finding, ``jira-new:PROJECT (a new issue)`` before; the
    template itself for the other kinds."""
    spec = template if isinstance(template, DestinationSpec) else parse_destination(template)
    if spec.kind != "jira-new":
        return spec.text
    try:
        doc = orjson.loads((Path(folder) / POSTS_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        doc = {}
    posts = [p for p in doc.get("posts") or [] if p.get("destination") == spec.text]
    issue = latest_remote(posts, "prepare").get("issue")
    return f"jira:{issue}" if issue else f"{spec.text} (a new issue)"
