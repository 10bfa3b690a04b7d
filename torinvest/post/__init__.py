"""Posting reports where the SOC works: Jira, ServiceNow, AWS Security Incident Response, Security
Hub — each report once, recorded, and unattended runs over every new finding.

    post_report(report_dir, ["jira:SEC-1", "securityhub"])      # a complete report folder
        →  posts.json in the folder, one ``kind: "post"`` ledger record per destination

Modules, one per concern:

========================  =======================================================================
``base``                  destination syntax, the protocol, :class:`PostError`, the kind → module table
``env``                   variables from the environment or an env file; secrets kept out of output
``http``                  httpx with bounded retries; statuses as one-line errors
``answer``                the plain-text answer from summary.json (and the ledger's verdict)
``record``                posts.json (idempotency, resuming) and the ledger entry
``engine``                :func:`post_report`: the recipe
``jira``, ``servicenow``  the ticket systems; ``security_ir``, ``securityhub`` the AWS services
``templates``             ``--post-each`` templates (``jira-new:PROJ``, …) per finding
``state``                 the state file of scheduled runs (each new finding once, resumed)
``command``               ``torinvest post`` and ``investigate --post`` (arguments and run)
``batch``                 ``investigate --all-open``: the plan, ``--jobs`` workers, posts
========================  =======================================================================
"""

from typing import TYPE_CHECKING, Any

from torinvest.post.base import (
    DESTINATIONS,
    DestinationSpec,
    PostConfigError,
    PostError,
    PostRefusedError,
    parse_destination,
)

if TYPE_CHECKING:
    from torinvest.post.engine import Outcome, PostReport, post_report

#: Names of :mod:`torinvest.post.engine`, imported when first asked for: the CLI builds its
#: parser from ``base`` and ``command`` without the engine (and HTTP clients, report folders).
_ENGINE_NAMES = frozenset({"Outcome", "PostReport", "post_report"})


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from torinvest.post import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DESTINATIONS",
    "DestinationSpec",
    "Outcome",
    "PostConfigError",
    "PostError",
    "PostRefusedError",
    "PostReport",
    "parse_destination",
    "post_report",
]
