"""Sections 1–3 of the report: the finding and the key, the key's activity (what was read,
data issues, the events table), activity by source IP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from IPython.display import HTML

from torinvest import analysis
from torinvest.addresses import canonical_column
from torinvest.display import data_events
from torinvest.display.last_used import last_used_html
from torinvest.display.markup import (
    MAX_ISSUES_SHOWN,
    _card,
    _e,
    _kv,
    _list,
    _present,
    _prose,
    _shown,
    _time,
    display_frame,
    table,
    with_caveat,
)
from torinvest.errors import DataIssue, group_issues
from torinvest.findings.fetched import FETCHED_AS_OF
from torinvest.grouping import tor_count
from torinvest.investigation import (
    FINDING_WHOLE_IN,
    activity_issues,
    reading_text,
    report_issues,
)
from torinvest.outcome import UNKNOWN_WHY, failed_rows, unknown_rows
from torinvest.schema import MAX_LIST_ITEMS, PER_IP_LIST_COUNTS
from torinvest.verdict import READING_INCOMPLETE

if TYPE_CHECKING:
    from torinvest.events import Activity
    from torinvest.findings import FindingsResult, KeyLocation
    from torinvest.investigation import Investigation, Sources
    from torinvest.sources.sql.engine import Aggregates


KIND_MEANING: Mapping[str, str] = {
    "long-term": "AKIA…: a long-term access key of an IAM user (or of the root user). It stays "
    "valid until it is deactivated: deactivate it, then look for what it created.",
    "temporary": "ASIA…: temporary STS credentials (a role session, GetSessionToken or "
    "GetFederationToken). They expire on their own, but only revoking the sessions "
    "(AWSRevokeOlderSessions) stops them before that; find the key that minted them.",
    "other": "neither AKIA nor ASIA: not an IAM access key shape torinvest knows.",
}
TYPE_MEANING: Mapping[str, str] = {
    "UnauthorizedAccess:IAMUser/TorIPCaller": "an API call that changes or reads data was made "
    "with this key from a Tor exit node",
    "Recon:IAMUser/TorIPCaller": "a reconnaissance API call (list/describe permissions or "
    "resources) was made with this key from a Tor exit node",
}


# --------------------------------------------------------------------------------------------
# 1. the finding and the key
# --------------------------------------------------------------------------------------------
def _whole_in_finding(value: object) -> str:
    """A value of the finding (written by whoever named the user, the network) for a card:
    cut with its mark (:func:`~torinvest.display.markup._shown`), whole in the finding."""
    return _shown(value, FINDING_WHOLE_IN)


def finding_card(finding: pd.Series, key: KeyLocation) -> HTML:
    """Who, which key (and what AKIA/ASIA means), when, and the Tor IP with its network."""
    network = " · ".join(
        _whole_in_finding(finding.get(c))
        for c in ("country", "asn", "asn_org")
        if _present(finding.get(c))
    )
    archived = finding.get("archived")
    archived = None if not _present(archived) else bool(archived)
    finding_rows = [
        ("finding ID", f"<code>{_e(key.finding_id)}</code>"),
        (
            "type",
            f"{_e(key.finding_type)}<br><span class='ti-note'>"
            f"{_e(TYPE_MEANING.get(key.finding_type, ''))}</span>",
        ),
        ("severity", _e(finding.get("severity"))),
        ("account / region", f"{_e(key.account_id)} / {_e(key.region)}"),
        ("first seen", _time(key.first_seen)),
        ("last seen", _time(key.last_seen)),
        (
            "count",
            f"{_e(finding.get('count'))} <span class='ti-note'>(calls GuardDuty "
            "aggregated into this finding: CloudTrail below has each one)</span>",
        ),
        ("API seen", f"{_whole_in_finding(key.api)} on {_whole_in_finding(key.service_name)}"),
        ("archived", "yes" if archived is True else "no" if archived is False else "—"),
    ]
    as_of = finding.get(FETCHED_AS_OF)
    if isinstance(as_of, str):  # read from a kept file: as of its fetch, not now
        finding_rows.append(("as of", _e(as_of)))
    key_rows = [
        ("access key", f"<code>{_e(key.access_key_id)}</code> — {_e(key.kind)}"),
        ("what that means", _e(KIND_MEANING.get(key.kind, KIND_MEANING["other"]))),
        ("user", f"{_whole_in_finding(key.user_name)} ({_whole_in_finding(key.user_type)})"),
        ("principal ID", f"<code>{_e(key.principal_id)}</code>"),
    ]
    tor_rows = [
        ("Tor IP (from the finding)", f"<code>{_e(key.tor_ip)}</code>"),
        ("its network", network or "— (not in the finding)"),
    ]
    body = (
        _card("The finding", _kv(finding_rows))
        + _card("The key", _kv(key_rows))
        + _card("The Tor exit node", _kv(tor_rows))
    )
    return HTML(body)


def activity_state(inv: Investigation) -> tuple[str, str]:
    """What the activity read amounts to, as (state, one line): ``events`` (rows loaded),
    ``counted`` (counted in the engine), ``nothing`` (no log file to read: an empty or mistyped
    source, or none covered the window), ``denied`` (no event; every failed source refused
    access), ``elsewhere`` (no event; every source read is of another account than the
    finding's: :attr:`~torinvest.events.Activity.account_gap`), ``failed`` (no event; sources
    failed), ``partial`` (no event in what was read; other sources failed or refused access: an
    incomplete reading, in :func:`~torinvest.investigation.reading_text`'s words — never
    "could not look"), ``missed`` (every source read, none holds a call, though GuardDuty saw
    the key called in the window:
    :attr:`~torinvest.investigation.Investigation.sightings_unread`), ``none``
    (every source read, none holds a call). The states never read
    the same; the report's answer and the activity card both take them from here."""
    from torinvest import events  # here: tqdm.auto's warning filter is set (module top)

    act = inv.activity
    attempted = act.files_read + sum(s.startswith(("lookup:", "athena:")) for s in act.sources)
    failed = list(act.issues)
    denied = [i for i in failed if _is_denied(i)]
    elsewhere = _elsewhere_why(inv)  # events shown, none of the finding's account
    if inv.counted:
        return "counted", (
            "Too many events to load as rows: the activity was counted in the engine; the tables "
            "list the sensitive calls only."
            + (f" None of them was recorded in {elsewhere}" if elsewhere else "")
        )
    if len(inv.events):
        if elsewhere:
            return (
                "events",
                f"{len(inv.events):,} events read, none of them recorded in {elsewhere}",
            )
        return "events", f"{len(inv.events):,} events read."
    gap = act.account_gap
    if gap is not None:  # sources read, but of other accounts: could not look there
        return "elsewhere", f"{gap[:1].upper()}{gap[1:]}."
    if act.nothing_read and act.empty_sources and len(act.empty_sources) >= len(failed):
        why = "; ".join(events.empty_source_text(i) for i in act.empty_sources)
        return "nothing", (
            f"Nothing to read: {why}. This is not evidence that the key was unused: point the "
            "investigation at the trail's logs of the window (or use LookupEvents)."
        )
    unread = len(group_issues(failed))  # as the answer's and the data issues' counts
    if attempted and inv.sightings_unread is not None and not denied:
        # GuardDuty saw calls that were not read: said, whatever else was not read
        seen = f" from {inv.key.tor_ip}" if inv.key.tor_ip else ""
        said = reading_text(READING_INCOMPLETE, unread)
        head = (
            f"{said[:1].upper()}{said[1:]} name what was not read (a source that failed or "
            "refused access, days or regions not there); what was read"
            if failed
            else "Incomplete: no call made with this key in what was read"
        )
        return "missed", (
            f"{head} ({attempted:,} file(s), region(s) or table(s))"
            f"{' holds no call made with this key' if failed else ''}, though GuardDuty saw it "
            f"called{seen} in the window: the reading misses the calls the finding is about "
            "(see the data issues). This is not evidence that the key was unused."
        )
    if failed and attempted:  # read in part: a partial reading, never "could not look"
        # (refused access or failed): the words of summary.json, the terminal and the index
        said = reading_text(READING_INCOMPLETE, unread)
        refused = f"; {len(denied)} of them refused access" if denied else ""
        return "partial", (
            f"{said[:1].upper()}{said[1:]} name what was not read (a source that failed or "
            f"refused access, days or regions not there){refused}; what was read ("
            f"{attempted:,} file(s), region(s) or table(s)) holds no call made with this key. "
            "This is not evidence that the key was unused where they say."
        )
    if denied and len(denied) >= len(failed):
        return "denied", (
            f"Could not look: {len(denied)} source(s) refused access and no event could be "
            "read. This says nothing about whether the key was used."
        )
    if failed:  # counted as summary.json's activity_issues and the data issues card count
        # them (grouped: region folders missing the same days are one issue, not N "sources")
        unread_all = len(group_issues(activity_issues(inv))) or unread
        return "failed", (
            f"Could not look: no event was read; {unread_all:,} data issue(s) name what could "
            "not be read (see the data issues). This is not evidence that the key was unused."
        )
    if attempted == 0:
        return "nothing", (
            "Nothing to read: no log file or region covered the window, so nothing was looked "
            "at. Add the CloudTrail logs of the window (or use LookupEvents)."
        )
    if inv.sightings_unread is not None:  # GuardDuty saw calls that were not read
        seen = f" from {inv.key.tor_ip}" if inv.key.tor_ip else ""
        return "missed", (
            f"Incomplete: no call made with this key in what was read ({attempted:,} file(s), "
            f"region(s) or table(s)), though GuardDuty saw it called{seen} in the window: the "
            "reading misses the calls the finding is about (see the data issues). This is not "
            "evidence that the key was unused."
        )
    return "none", (
        f"No events: every CloudTrail source was read ({attempted:,} file(s), region(s) or "
        "table(s)) and none holds a call made with this key in the window. This is not an access "
        "problem."
    )


def _elsewhere_why(inv: Investigation) -> str | None:
    """What the events' line adds when they were all recorded in other accounts and the
    finding's account was not read (:attr:`~torinvest.investigation.Investigation.could_not_look`
    with events): "account X (the finding's). Could not look in account X …" (None
    otherwise)."""
    why = inv.could_not_look
    if why is None or not inv.activity.total_events:
        return None
    return f"account {inv.key.account_id} (the finding's). {why[:1].upper()}{why[1:]}."


#: What an empty chart says in each :func:`activity_state` without events: the activity
#: card's title, so that "no events", "could not look" and "nothing to read" never read the same.
EMPTY_REASONS: Mapping[str, str] = {
    "none": "no events",
    "nothing": "nothing to read: nothing was looked at",
    "denied": "could not look: access refused, no event read",
    "elsewhere": "could not look in the finding's account",
    "failed": "could not look: sources failed, no event read",
    "partial": "incomplete: no call in what was read",
    "missed": "incomplete: the finding's calls are not in what was read",
}


def empty_reason(inv: Investigation) -> str:
    """What a chart, table or card with no event says (a few words, plain text): "no events"
    only when every source was read and none holds a call (:func:`activity_state`)."""
    return EMPTY_REASONS.get(activity_state(inv)[0], "no events")


def activity_gap(inv: Investigation) -> str:
    """What an answer of "none" over the key's activity (no sensitive call, no derived key)
    must add, in a line ("" when the activity was read whole): no call could be read (the
    :func:`activity_state` line: could not look, nothing to read…), or the data issues of the
    activity name what was not read, which may hold some."""
    state, line = activity_state(inv)
    if state not in ("events", "counted", "none"):
        return f"no call of the key was read. {line}"
    if inv.could_not_look is not None:  # events of other accounts only
        return (
            f"in what was read only, all of it recorded in other accounts: the finding's "
            f"account {inv.key.account_id} was not read, and it may hold some (see the data "
            "issues)"
        )
    issues = inv.unread_activity  # IAM's last use after the last call read: calls missing too
    if not issues:
        return ""
    return (
        f"in what was read only: {len(group_issues(issues)):,} data issue(s) name what was not "
        "read, or not whole, and it may hold some (see the data issues)"
    )


# --------------------------------------------------------------------------------------------
# 2. the key's activity
# --------------------------------------------------------------------------------------------
def sources_card(inv: Investigation) -> HTML:
    """Where the activity came from: the source, files and regions read, exit lists, window."""
    from torinvest import events  # here: tqdm.auto's warning filter is set (module top)

    act = inv.activity
    src: Sources = inv.sources
    logs = [s.removeprefix("logs:") for s in act.sources if s.startswith("logs:")]
    lookups = [s.removeprefix("lookup:") for s in act.sources if s.startswith("lookup:")]
    read = f"{act.files_read:,} from " + (", ".join(_e(x) for x in logs) or "—")
    kind = src.engine.kind
    engine_sources = [s.removeprefix(f"{kind}:") for s in act.sources if s.startswith(f"{kind}:")]
    if kind == "duckdb" and engine_sources:
        read = f"{act.files_read:,} by the DuckDB engine from " + ", ".join(
            _e(x) for x in engine_sources
        )
    elif kind == "athena" and engine_sources:
        read = (
            "— (Athena reads the CloudTrail table in "
            + ", ".join(_e(x) for x in engine_sources)
            + ")"
        )
    rows = [
        ("source", _e(src.describe())),
        ("window", f"{_time(inv.window[0])} → {_time(inv.window[1])}"),
        ("log files read", read),
    ]
    if act.file_counts is not None:  # listed, read, failed (why), outside the narrowing
        rows.append(("log files", _e(act.file_counts.describe())))
        if act.file_counts.trails:
            rows.append(("trail folders found", "<br>".join(_e(t) for t in act.file_counts.trails)))
    rows += [
        ("LookupEvents regions", ", ".join(_e(x) for x in lookups) or "— (not used)"),
        ("Tor exit lists", "<br>".join(_e(line) for line in inv.lists.describe().splitlines())),
        ("IP places", "<br>".join(_e(line) for line in inv.geo.lines()) if inv.geo else "—"),
        ("result", _e(act.summary())),
        data_events.row(inv),  # LookupEvents never holds them; a trail's files, if it records
    ]
    if act.engine_summary:
        rows.append(("engine", _e(act.engine_summary)))
    for empty in act.empty_sources:
        rows.append(("nothing to read", _e(events.empty_source_text(empty))))
    said = [*act.notes, *inv.reading_notes]
    notes = _list(_e(n) for n in said) if said else ""
    return HTML(_card("Sources used", _kv(rows) + notes))


def _is_denied(issue: DataIssue) -> bool:
    return issue.problem.lower().startswith("access denied") or "AccessDenied" in issue.problem


def all_issues(
    inv: Investigation,
    findings: FindingsResult | None = None,
    ledger_issues: Sequence[DataIssue] = (),
) -> list[DataIssue]:
    """The findings files that could not be read, the investigation's data issues and the
    ledger's unreadable lines (identical problems of many sources grouped): the one list
    ``summary.json`` and the terminal say too (:func:`torinvest.investigation.report_issues`)."""
    return report_issues(inv, findings, ledger_issues)


def verdict_ledger_issues(verdict: Mapping[str, Any] | None) -> list[DataIssue]:
    """The ledger's unreadable lines as the verdict step found them (its ``ledger_issues``)."""
    return [
        DataIssue(str(i.get("source")), str(i.get("problem")))
        for i in (verdict or {}).get("ledger_issues") or []
    ]


def ledger_issues(ledger: str | Path | None) -> list[DataIssue]:
    """The unreadable lines of the verdict ledger ``ledger`` (empty: the default ledger); a
    ledger that cannot be read at all is one issue naming it."""
    from torinvest.errors import InputError
    from torinvest.verdict import default_ledger_path, read_ledger

    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    try:
        return read_ledger(path)[1]
    except InputError as e:
        return [DataIssue(str(path), str(e))]


def data_issues(
    inv: Investigation,
    findings: FindingsResult | None = None,
    *,
    ledger: str | Path | None = None,
) -> HTML:
    """A visible warning block listing every data issue, or a short "none" note. ``ledger``
    (a path; ``""``: the default ledger; None: not read): its unreadable lines are data issues
    too — a torn record may be a later verdict than the one shown."""
    found = ledger_issues(ledger) if ledger is not None else []
    issues = all_issues(inv, findings, found)
    if not issues:
        return HTML(
            _card(
                "No data issues",
                "<p>Every file and region was read completely.</p>",
                "ti-ok",
            )
        )
    every = [*(findings.issues if findings is not None else []), *inv.data_issues]
    denied = [i for i in dict.fromkeys(every) if _is_denied(i)]
    shown = issues[:MAX_ISSUES_SHOWN]
    items = [f"<code>{_e(i.source)}</code>: {_prose(i.problem)}" for i in shown]
    more = len(issues) - len(shown)
    if more:
        items.append(f"… and {more:,} more (see summary.json)")
    head = (
        f"<p><b>{len(issues)} data issue(s): what follows may be incomplete.</b> A source that "
        "could not be read is not a source without events.</p>"
    )
    if found:
        head += (
            f"<p><b>The verdict ledger has {len(found)} unreadable line(s):</b> the verdict "
            "shown below may not be the latest.</p>"
        )
    if denied:
        # "not allowed to look" only when nothing of the activity was read; a source refused
        # beside others read is a partial reading ("incomplete", as the activity card says)
        said = (
            f"<b>Not allowed to look:</b> {len(denied)} source(s) refused access (AccessDenied) "
            "and no event could be read."
            if activity_state(inv)[0] in ("denied", "failed")
            else f"<b>{len(denied)} source(s) refused access</b> (AccessDenied): their events "
            "were not read (the other sources were: an incomplete reading)."
        )
        head += (
            f"<p>{said} Investigate with a principal that may read them; AWS's quarantine "
            "policies deny cloudtrail:LookupEvents to the quarantined key itself.</p>"
        )
    return HTML(_card("⚠ Data issues", head + _list(items), "ti-warn"))


def activity_status(inv: Investigation) -> HTML:
    """What was found: events, or "no events" (sources read, nothing there) vs "could not look"
    vs "nothing to read" (:func:`activity_state`)."""
    act: Activity = inv.activity
    state, line = activity_state(inv)
    iam = last_used_html(inv)  # IAM's last use of the key against the calls read
    if state in ("events", "counted") and _elsewhere_why(inv):  # other accounts' events only
        title = "The key's activity — could not look in the finding's account"
        said = f"<p class='ti-danger'><b>⚠ {_e(line)}</b></p>"
        body = _counted_body(inv) if state == "counted" else _events_body(inv)
        return HTML(_card(title, said + body + iam, "ti-danger"))
    said_data = data_events.note(inv)  # S3 object reads… may not be in what was read
    if state == "counted":
        return HTML(_card("The key's activity", _counted_body(inv) + said_data + iam))
    if state == "events":
        return HTML(_card("The key's activity", _events_body(inv) + said_data + iam))
    title, kind = {
        "nothing": ("Nothing to read", "ti-danger" if act.empty_sources else "ti-warn"),
        "denied": ("Could not look: access refused", "ti-danger"),
        "elsewhere": ("Could not look in the finding's account", "ti-danger"),
        "failed": ("Could not look: sources failed", "ti-danger"),
        "partial": ("Incomplete: no call in what was read", "ti-warn"),
        "missed": ("Incomplete: the finding's calls are not in what was read", "ti-warn"),
        "none": ("No events", "ti-ok"),
    }[state]
    more = (
        said_data if state in ("none", "partial", "missed") else ""
    )  # read: what it could not hold
    return HTML(_card(title, f"<p>{_e(line)}</p>{more}" + iam, kind))


def _events_body(inv: Investigation) -> str:
    """The activity card's body when events were loaded as rows."""
    ev = inv.events
    failed = list(inv.activity.issues)
    n_failed = int(failed_rows(ev).sum())
    n_tor = int(ev["tor"].fillna(False).astype(bool).sum())
    n_unknown = int(ev["tor"].isna().sum())
    keys = ev["access_key_id"].dropna().astype(str).unique().tolist()
    rows = [
        ("events", f"<span class='ti-big'>{len(ev):,}</span>"),
        ("failed calls", f"{n_failed:,}"),
        *_unknown_outcome_row(int(unknown_rows(ev).sum())),
        ("calls from Tor", _e(tor_count(n_tor, n_unknown))),
        ("source IPs", f"{canonical_column(ev['source_ip']).nunique():,}"),
        ("access keys", ", ".join(f"<code>{_e(k)}</code>" for k in sorted(keys))),
        ("first / last", f"{_time(ev['event_time'].min())} → {_time(ev['event_time'].max())}"),
    ]
    return _kv(rows) + _unread_note(failed)


def _unknown_outcome_row(n: int) -> list[tuple[str, str]]:
    """The activity card's row of calls neither succeeded nor failed (none: no row)."""
    if not n:
        return []
    return [
        (
            "calls of unknown outcome",
            f"<b>{n:,}</b> — {_e(UNKNOWN_WHY)} (column <code>outcome_unknown</code>; see the "
            "data issues)",
        )
    ]


def counted_keys(agg: Aggregates) -> list[str]:
    """Every access key of an activity counted in the engine: from the counts per (source IP,
    bucket, event name, access key), which hold every call — not the per-IP table's
    ``access_keys``, which keep each IP's most frequent (:data:`MAX_LIST_ITEMS`)."""
    return sorted({str(k) for k in agg.by_time["access_key_id"].dropna().unique()})


def _counted_body(inv: Investigation) -> str:
    """The activity card's body when the activity was counted in the engine."""
    agg = inv.activity.aggregates
    assert agg is not None
    totals = inv.totals()
    keys = counted_keys(agg)
    bucket = (inv.by_time.attrs.get("bucket_name") if inv.by_time is not None else None) or "bucket"
    rows = [
        ("events", f"<span class='ti-big'>{totals['total']:,}</span> (counted in the engine)"),
        ("failed calls", f"{totals['failed']:,}"),
        *_unknown_outcome_row(totals.get("outcome_unknown", 0)),
        (
            "calls from Tor",
            f"{_e(tor_count(totals['from_tor'], totals['tor_unknown']))} (Tor status per IP and "
            f"{_e(bucket)})",
        ),
        ("source IPs", f"{len(inv.per_ip):,}"),
        ("access keys", ", ".join(f"<code>{_e(k)}</code>" for k in keys)),
        ("first / last", f"{_time(agg.first_seen)} → {_time(agg.last_seen)}"),
    ]
    limit = f"the {agg.limit:,}-row limit" if agg.limit is not None else "the row limit"
    body = _kv(rows) + (
        f"<p><b>Too many events to load as rows</b> (more than {limit}): the per-IP table and "
        "the charts were computed in the engine (GROUP BY), and the events table lists only the "
        f"{len(inv.events):,} sensitive calls. Query the engine (<code>torinvest events "
        "--engine …</code>) for the rest.</p>"
    )
    return body + _unread_note(inv.activity.issues)


def _unread_note(issues: Sequence[DataIssue]) -> str:
    """The activity card's line on its data issues, counted as the answer and the data issues
    card count them (grouped): what they name was not read, or not whole — never "N source(s)
    failed" for region folders missing days, a region read in part or an event kept without
    its record."""
    if not issues:
        return ""
    return (
        f"<p><b>{len(group_issues(issues)):,} data issue(s) of the activity</b>: what they name "
        "was not read, or not whole — events there may be missing (see the data issues).</p>"
    )


EVENT_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "tor",
    "access_key_id",
    "derived",
    "error_code",
    "outcome_unknown",
    "user_agent",
    "request_parameters",
)


def events_frame(inv: Investigation) -> pd.DataFrame:
    """The events as plain text columns (the ones an analyst reads first); a "not Tor" by
    OR-address lists only says so (``tor_caveat``, :func:`display_frame`)."""
    cols = [c for c in EVENT_COLUMNS if c in inv.events.columns]
    return display_frame(inv.events[with_caveat(cols, inv.events)])


#: The events table's columns, what an analyst reads first on the left.
EVENT_TABLE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_name",
    "sensitive",
    "source_ip",
    "tor",
    "aws_region",
    "error_code",
    "outcome_unknown",
    "access_key_id",
    "derived",
    "event_source",
    "user_agent",
    "request_parameters",
)
#: How the events table is ordered (its caption says it).
EVENTS_ORDER = "Tor and sensitive calls first, then the others; oldest first within each"


def events_view(inv: Investigation) -> pd.DataFrame:
    """The events table's rows (:data:`EVENT_TABLE_COLUMNS`, plain text): calls from Tor exits
    and calls in the sensitive-actions catalogue first, then the others, each group oldest
    first. ``sensitive`` is the call's catalogue category (empty for other calls)."""
    ev = inv.events
    if not len(ev):
        return pd.DataFrame(columns=list(EVENT_TABLE_COLUMNS))
    cat = analysis.load_catalogue()[["event_name", "event_source", "category"]].astype("object")
    pairs = pd.DataFrame(
        {
            "event_name": ev["event_name"].astype("object").to_numpy(),
            "event_source": ev["event_source"].astype("object").to_numpy(),
        }
    )
    category = pairs.merge(cat, on=["event_name", "event_source"], how="left")["category"]
    tor = ev["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    first = tor | category.notna().to_numpy(dtype=bool)
    order = pd.DataFrame(
        {"later": ~first, "time": ev["event_time"].to_numpy(), "n": range(len(ev))}
    ).sort_values(["later", "time", "n"], kind="stable", na_position="last")["n"]
    rows = ev.iloc[order.to_numpy()].copy()
    rows["sensitive"] = category.iloc[order.to_numpy()].to_numpy()
    cols = [c for c in EVENT_TABLE_COLUMNS if c in rows.columns]
    return display_frame(rows[with_caveat(cols, rows)])  # "not Tor (OR-address lists only)"


def events_table(inv: Investigation) -> HTML:
    """Every event of the key (and its derived keys), interactive, Tor and sensitive calls
    first (:data:`EVENTS_ORDER`); printed, every row (up to :data:`PRINT_MAX_ROWS`)."""
    if not len(inv.events):
        if inv.counted:
            return HTML('<p class="ti-note">No sensitive call to list.</p>')
        state, line = activity_state(inv)  # "none" only when every source was read
        what = "No events to list." if state == "none" else f"No event to list. {line}"
        return HTML(f'<p class="ti-note">{_e(what)}</p>')
    caption = f"Events ({len(inv.events):,}): {EVENTS_ORDER}"
    what = "events"
    if inv.counted:
        total = inv.totals()["total"]
        caption = f"Sensitive calls only: {len(inv.events):,} of {total:,} events ({EVENTS_ORDER})"
        what = "sensitive calls"
    return table(
        events_view(inv),
        caption=caption,
        what=what,
        where="events.csv",
        order="Tor and sensitive calls first",
    )


# --------------------------------------------------------------------------------------------
# 3. by source IP
# --------------------------------------------------------------------------------------------
PER_IP_SHOWN: tuple[str, ...] = (
    "source_ip",
    "tor",
    "events",
    "failed",
    "outcome_unknown",
    "tor_events",
    "first_seen",
    "last_seen",
    "new",
    "ip_kind",
    "country",
    "asn",
    "asn_org",
    "regions",
    "event_names",
    "user_agents",
    "access_keys",
    "derived",
)


#: The per-IP table's order (the per-IP frame is by first call): a part of it keeps these first.
PER_IP_ORDER = analysis.SOURCE_IPS_ORDER
#: Lists (user agents, regions…) in the interactive per-IP table keep this many items each.
TABLE_LIST_ITEMS = 5


def list_text(items: Sequence[Any], total: Any, max_items: int | None = None) -> str:
    """A per-IP list's cell: its first ``max_items`` items joined with " | ", led by
    ``[N of M]`` when the IP had more values than shown (``total``: its distinct values over
    all its calls, e.g. ``n_user_agents``), then "…"; ``per_ip.csv`` named when it holds more
    of them than the cell."""
    values = [str(v) for v in items]
    shown = values if max_items is None else values[:max_items]
    n = len(values) if total is None or total is pd.NA else max(int(total), len(values))
    if n <= len(shown):
        return " | ".join(shown)
    lead = f"[{len(shown):,} of {n:,}"
    if n > len(values):  # the list itself keeps the most frequent
        more = len(values) > len(shown)
        lead += (
            f"; per_ip.csv: the {len(values):,} most frequent" if more else ", the most frequent"
        )
    return f"{lead}] " + " | ".join([*shown, "…"])


def per_ip_frame(
    inv: Investigation, *, max_items: int | None = None, busiest: bool = False
) -> pd.DataFrame:
    """The per-IP frame (:func:`torinvest.analysis.per_ip`) as plain text columns; with
    ``busiest``, in :data:`PER_IP_ORDER` (what a part of it keeps first). An IP "not Tor" only
    by lists of relays' OR addresses (``tor_caveat``) says so in its Tor cell. A list an IP had
    more values for than it shows says so (:func:`list_text`, from the frame's
    :data:`~torinvest.schema.PER_IP_LIST_COUNTS` columns)."""
    cols = [c for c in PER_IP_SHOWN if c in inv.per_ip.columns]
    table = analysis.busiest_first(inv.per_ip) if busiest else inv.per_ip
    out = display_frame(table[with_caveat(cols, table)], max_items=max_items)
    for col, count in PER_IP_LIST_COUNTS.items():
        if col in out.columns:
            totals = table[count] if count in table.columns else [None] * len(table)
            out[col] = [
                list_text(items, n, max_items) for items, n in zip(table[col], totals, strict=True)
            ]
    return out


def per_ip_table(inv: Investigation) -> HTML:
    """One row per source IP, interactive (offline)."""
    if not len(inv.per_ip):
        state, line = activity_state(inv)  # "no events" only when every source was read
        what = "No source IP: no events." if state == "none" else f"No source IP. {line}"
        return HTML(f'<p class="ti-note">{_e(what)}</p>')
    return table(
        per_ip_frame(inv, max_items=TABLE_LIST_ITEMS, busiest=True),
        caption=(
            f"Activity by source IP (lists: first {TABLE_LIST_ITEMS}, [N of M] when the IP had "
            f"more; per_ip.csv: the {MAX_LIST_ITEMS} most frequent and n_… their count)"
        ),
        what="source IPs",
        where="per_ip.csv",
        order=PER_IP_ORDER,
    )
