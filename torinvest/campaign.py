"""The campaign around the key: related GuardDuty findings and who else used its addresses.

:func:`look_around` is one notebook cell: after :func:`torinvest.investigation.investigate`,
it fills ``inv.related`` (:func:`related_findings`, a
:class:`~torinvest.findings.related.RelatedFindings`) and ``inv.pivot`` (:func:`ip_pivot`, an
:class:`~torinvest.pivot.IpPivot` whose table has a ``command`` per caller: the
``torinvest`` command line that investigates it), which the report's sections, ``summary.json``
and the data issues read. Both look in the sources the investigation read — the same regions
(and accounts) of GuardDuty or the case folder's ``findings/``; the same log files, DuckDB or
Athena — and each says whether it looked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from torinvest.addresses import canonical_ips
from torinvest.aws.ids import USER_NAME_RE, is_access_key_id
from torinvest.commands import Access, command
from torinvest.findings import FindingsResult
from torinvest.findings.related import (
    RelatedFindings,
    fetch_related,
    make_subject,
    read_related,
)
from torinvest.investigation import Investigation, Sources, known_regions
from torinvest.pivot import IpPivot, load_ip_pivot, pivot_addresses
from torinvest.safety import option
from torinvest.schema import iso_utc


def investigated_keys(inv: Investigation) -> list[str]:
    """The investigated key and the keys it minted (the same actor)."""
    return [inv.key.access_key_id, *(d.access_key_id for d in inv.activity.derived)]


def tor_addresses(inv: Investigation) -> list[str]:
    """The key's Tor IPs: the per-IP table's Tor rows and the finding's Tor IP."""
    table = inv.per_ip
    tor = table.loc[table["tor"].fillna(False).astype(bool), "source_ip"] if len(table) else []
    return sorted(canonical_ips([*tor, inv.key.tor_ip]))


def related_findings(inv: Investigation) -> RelatedFindings:
    """Every finding that names the key (or a key it minted), its principal or one of its Tor
    IPs in the window, from GuardDuty in the investigation's regions or the case folder's
    ``findings/`` (the investigated finding itself left out)."""
    subject = make_subject(
        investigated_keys(inv),
        principal=inv.key.principal_id,
        ips=tor_addresses(inv),
        start=inv.window[0],
        end=inv.window[1],
        exclude=[inv.key.finding_id],
    )
    src = inv.sources
    if src.case is not None:
        if not src.case.findings.is_dir():
            return RelatedFindings.not_looked(f"case folder {src.case.root} has no findings/")
        return read_related(src.case.findings, subject)
    if src.aws is None:
        return RelatedFindings.not_looked("no source of findings")
    return fetch_related(src.aws, src.regions, subject)


def ip_pivot(inv: Investigation, findings: Iterable[Mapping[str, Any]] = ()) -> IpPivot:
    """Who else called from the key's Tor IPs and its new source IPs in the window, from the
    sources the investigation read; each caller with the command that investigates it
    (:func:`command_for`; ``findings``: finding rows whose key may name a caller)."""
    src = inv.sources
    logs = [str(p) for p in src.logs]
    if src.case is not None and src.case.cloudtrail.is_dir():
        logs.insert(0, str(src.case.cloudtrail))
    pivot = load_ip_pivot(
        pivot_addresses(inv.per_ip, [inv.key.tor_ip] if inv.key.tor_ip else []),
        logs=logs,
        engine=src.engine,
        lookup=src.aws is not None,
        start=inv.window[0],
        end=inv.window[1],
        regions=src.regions,
        aws=src.aws or src.logs_aws,
        exclude_keys=investigated_keys(inv),
        known=known_regions(inv.key),  # its region without a folder: said once, as the key's
    )
    by_key = _findings_by_key([*inv.findings.to_dict("records"), *findings])
    pivot.table["command"] = [
        command_for(row, src, inv.window, by_key) for row in pivot.table.to_dict("records")
    ]
    return pivot


def look_around(inv: Investigation, findings: FindingsResult | None = None) -> Investigation:
    """Fill ``inv.related`` and ``inv.pivot`` (``findings``: the findings already loaded, so
    that a caller another finding names gets that finding's ``investigate`` command)."""
    inv.related = related_findings(inv)
    # GuardDuty disabled, a trusted IP list… by the key: findings after T were never raised
    inv.related.blind(inv.impaired.findings_gaps)
    rows = findings.frame().to_dict("records") if findings is not None else []
    inv.pivot = ip_pivot(inv, rows)
    return inv


# --------------------------------------------------------------------------------------------
# the command that investigates a caller
# --------------------------------------------------------------------------------------------
def _findings_by_key(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Access key → the ID of the newest finding naming it."""
    out: dict[str, tuple[str, str]] = {}
    for r in rows:
        key, fid = r.get("access_key_id"), r.get("id")
        if isinstance(key, str) and isinstance(fid, str):
            seen = str(iso_utc(r.get("last_seen")) or "")
            if key not in out or seen > out[key][1]:
                out[key] = (fid, seen)
    return {k: v[0] for k, v in out.items()}


def source_args(src: Sources) -> list[str]:
    """The arguments that name the investigation's sources again (case folder or AWS — the
    role and its external ID too, read from ``$TORINVEST_EXTERNAL_ID``: the commands are in
    the report's files, which are posted —, extra log files, the engine):
    :meth:`torinvest.commands.Access.of_report`."""
    return Access.of_report(src).args()


def command_for(
    row: Mapping[str, Any],
    src: Sources,
    window: tuple[pd.Timestamp, pd.Timestamp],
    findings_by_key: Mapping[str, str],
) -> str | None:
    """The shell command (each argument quoted: user names are attacker-written) that
    investigates a caller: ``torinvest investigate FINDING_ID …`` when a finding names its key,
    else ``torinvest events … --access-key KEY`` (``--username NAME`` without a key) over the
    same sources and window; None when the caller has neither (a user name holding a control
    character is none: ``--username`` refuses it)."""
    key, name = _text(row.get("access_key_id")), _text(row.get("user_name"))
    key = key if key and is_access_key_id(key) else None  # never a path or an option
    # a name `events --username` refuses (a control character…) gives no command
    name = name if name and USER_NAME_RE.fullmatch(name) else None
    sources = source_args(src)
    if key and key in findings_by_key:
        fid = findings_by_key[key]
        out_dir = option("--out", f"investigations/finding-{fid}")
        return command("investigate", fid, extra=[*sources, out_dir])
    if key:
        who = [option("--access-key", key), "--follow-derived"]
        out = f"events-{key}.parquet"
    elif name:
        who, out = [option("--username", name)], "events-by-username.parquet"
    else:
        return None
    lookup = ["--lookup"] if src.aws is not None and src.case is None else []
    window_args = [option("--start", iso_utc(window[0])), option("--end", iso_utc(window[1]))]
    return command("events", extra=[*sources, *lookup, *who, *window_args, option("--out", out)])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
