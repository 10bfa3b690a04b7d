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

from torinvest.post.base import (
    DESTINATIONS,
    DestinationSpec,
    PostConfigError,
    PostError,
    PostRefusedError,
    parse_destination,
)
from torinvest.post.engine import Outcome, PostReport, post_report

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
