"""0. The answer first: the report's opening block, computed last and shown in the slot the
notebook's second cell keeps for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from IPython.display import HTML

from torinvest import __version__, analysis, tor
from torinvest.commands import Access, actions_command, external_id_note, verdict_command
from torinvest.display import data_events
from torinvest.display.activity import (
    FINDING_WHOLE_IN,
    _is_denied,
    activity_gap,
    activity_state,
    all_issues,
    verdict_ledger_issues,
)
from torinvest.display.markup import (
    SENSITIVE_ALL_IN,
    _card,
    _e,
    _list,
    _prose,
    _shown,
    _time,
    display_frame,
    frame_html,
)
from torinvest.grouping import from_tor, tor_count
from torinvest.outcome import call_results, split_text
from torinvest.parameters import param_bool
from torinvest.passwords import unnamed_said
from torinvest.safety import html_text
from torinvest.sources.records import is_unfollowed
from torinvest.verdict import NEXT_STEPS, finding_check_note

if TYPE_CHECKING:
    from torinvest.findings import FindingsResult
    from torinvest.investigation import Investigation


# --------------------------------------------------------------------------------------------
# 0. the answer first
# --------------------------------------------------------------------------------------------
#: What the report's first output says until the notebook's last cell replaces it.
ANSWER_PENDING = (
    "The answer (the key, the Tor reading, what mattered, the score, the verdict and the next "
    "step) appears here when the notebook's last cell has run. If you read this in a report, the "
    "run stopped before the end (the banner above names the failing cell): what follows is "
    "incomplete."
)
#: The answer lists at most this many sensitive calls (all of them are in section 4).
ANSWER_MAX_CALLS = 12
#: The answer's sensitive-calls columns, as it heads them.
ANSWER_CALL_LABELS: Mapping[str, str] = {
    "event_time": "when (UTC)",
    "event_name": "call",
    "source_ip": "from",
    "tor": "Tor",
}
#: … and at most this many Tor IPs, reasons and sources.
ANSWER_MAX_ITEMS = 5
#: A reason's detail is cut to this many characters in the answer.
ANSWER_DETAIL_CHARS = 90


def answer_slot() -> Any:
    """Show the placeholder of the answer (:data:`ANSWER_PENDING`) and return its display
    handle: :func:`answer_first` replaces it, in JupyterLab and in the executed notebook the
    report is made from (papermill records the update)."""
    from IPython.display import display

    body = f"<p>{_e(ANSWER_PENDING)}</p>"
    slot = display(HTML(_card("The answer: not computed yet", body, "ti-warn")), display_id=True)
    _watch()
    return slot


#: What the answer's slot says once the investigation or verdict it was made from is no longer
#: the kernel's current one (:func:`withdraw_if_gone`).
ANSWER_NOT_CURRENT = (
    "The answer shown here was made from an investigation or a verdict this notebook no longer "
    "holds as current: a parameter changed, or the cells that made them ran again or stopped. "
    "It appears again when the notebook's last cell has run; until then nothing here describes "
    "the results below."
)


def withdraw_if_gone(namespace: Mapping[str, Any]) -> bool:
    """Replace the answer shown in its slot by :data:`ANSWER_NOT_CURRENT` when ``namespace``
    (the kernel's) no longer holds the investigation or the verdict it was made from — removed
    as not current (:mod:`torinvest.display.rerun`) or made again; True when it did. The
    answer on top never shows another finding's, window's or verdict's answer above the
    results below it."""
    if not _SHOWN:
        return False
    inv, slot, _findings, _followed, verdict = _SHOWN[0]
    held = [v for n, v in list(namespace.items()) if not n.startswith("_")]
    if any(v is inv for v in held) and any(v is verdict for v in held):
        return False
    _SHOWN.clear()
    body = f"<p>{_e(ANSWER_NOT_CURRENT)}</p>"
    slot.update(HTML(_card("The answer: not current", body, "ti-warn")))
    return True


def _watch() -> None:
    """In IPython: check the answer shown after each cell (:func:`withdraw_if_gone`)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    results = getattr(get_ipython(), "_torinvest_results", None)
    if results is not None and withdraw_if_gone not in results.listeners:
        results.listeners.append(withdraw_if_gone)


#: The answer last shown in this kernel — (``inv``, its slot, ``findings``, ``followed``) — and
#: the verdict the verdict form last recorded — (``inv``, the verdict) — (JupyterLab): the
#: form's recording redraws the answer of the same investigation (:func:`verdict_recorded`),
#: and an answer drawn after a recording shows it, so that the answer's verdict and next step
#: never say "pending" beside the form's "Recorded: malicious". One of each: a notebook run
#: again holds a new investigation, and the old one is let go.
_SHOWN: list[tuple[Any, Any, Any, object, Any]] = []
_RECORDED: list[tuple[Any, Mapping[str, Any]]] = []


def answer_first(
    slot: Any,
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    findings: FindingsResult | None = None,
    followed: object = None,
) -> None:
    """Put the answer (:func:`answer_html`) in ``slot`` (from :func:`answer_slot`); without a
    slot, display it here. A verdict the verdict form recorded for ``inv`` since ``verdict``
    was decided is the one shown (:func:`verdict_recorded`)."""
    verdict_made = verdict  # the notebook's: when it is no longer current, neither is this
    if _RECORDED and _RECORDED[0][0] is inv:
        verdict = _RECORDED[0][1]
    elif _RECORDED:  # another investigation's (the notebook run again): let it go
        _RECORDED.clear()
    page = HTML(answer_html(inv, verdict, findings=findings, followed=followed))
    if slot is None:
        from IPython.display import display

        display(page)
    else:
        slot.update(page)
        _SHOWN[:] = [(inv, slot, findings, followed, verdict_made)]


def verdict_recorded(inv: Investigation, verdict: Mapping[str, Any]) -> None:
    """The verdict form recorded (or was shown) ``verdict`` for ``inv``: redraw the answer
    shown for it in its slot, and draw a later one with it (:func:`answer_first`)."""
    _RECORDED[:] = [(inv, dict(verdict))]
    if not _SHOWN or _SHOWN[0][0] is not inv:
        return
    _, slot, findings, followed, _verdict = _SHOWN[0]
    slot.update(HTML(answer_html(inv, verdict, findings=findings, followed=followed)))


def _state_html(
    inv: Investigation, findings: FindingsResult | None, verdict: Mapping[str, Any] | None = None
) -> str:
    """The completeness line under the answer's title: complete, incomplete (data issues, the
    verdict ledger's unreadable lines too), could not look, nothing to read, or no events."""
    state, line = activity_state(inv)
    issues = all_issues(inv, findings, verdict_ledger_issues(verdict))
    notes = _notes_pointer(inv) + data_events.note(inv)  # data events: not in LookupEvents
    if state in ("denied", "failed", "elsewhere"):
        return f'<div class="ti-state ti-danger"><b>⚠ {_e(line)}</b></div>'
    if inv.could_not_look is not None:  # events of other accounts only: could not look here
        listed = f" {len(issues):,} data issue(s) in all, listed under Data issues below."
        return f'<div class="ti-state ti-danger"><b>⚠ {_e(line)}</b>{_e(listed)}{notes}</div>'
    if state == "nothing":
        return f'<div class="ti-state ti-warn"><b>⚠ {_e(line)}</b></div>'
    parts = [] if state == "events" else [_e(line)]
    if issues:
        denied = [i for i in issues if _is_denied(i)]
        listed = "; ".join(
            f"<code>{_e(i.source)}</code>: {_prose(i.problem)}" for i in issues[:3]
        ) + (f"; … and {len(issues) - 3:,} more" if len(issues) > 3 else "")
        head = (
            f"<b>⚠ Incomplete: {len(issues):,} data issue(s)</b> — read what follows with "
            "them in mind"
            + (f" ({len(denied):,} source(s) refused access: not read)" if denied else "")
        )
        parts.insert(0, f"{head}: {listed}. All are listed under Data issues below.")
        return f'<div class="ti-state ti-warn">{" ".join([*parts, notes])}</div>'
    read = _read_count(inv)
    if state == "none":
        return f'<div class="ti-state ti-ok"><b>{_e(line)}</b>{notes}</div>'
    head = f"<b>Complete:</b> every source was read ({_e(read)}); no data issue."
    return f'<div class="ti-state ti-ok">{" ".join([head, *parts])}{notes}</div>'


def _notes_pointer(inv: Investigation) -> str:
    """What the reading rests on that is no data issue (the activity's ``asides``: days the
    trail's digest files show quiet, their signatures not checked; IPs "not Tor" only by lists
    of relays' OR addresses: :attr:`~torinvest.investigation.Investigation.reading_notes`), pointed at from the
    answer's completeness line — "complete" says what it assumed; the Sources card lists them
    whole. Empty when there is none."""
    asides = inv.reading_notes
    if not asides:
        return ""
    first = asides[0] if len(asides[0]) <= 240 else asides[0][:239] + "…"
    more = f" (and {len(asides) - 1:,} more)" if len(asides) > 1 else ""
    return (
        f" <span class='ti-note'>Note on the reading (under Sources used): {_e(first)}{more}</span>"
    )


def _read_count(inv: Investigation) -> str:
    act = inv.activity
    parts = []
    if act.files_read:
        parts.append(f"{act.files_read:,} log file(s)")
    regions = sum(s.startswith("lookup:") for s in act.sources)
    if regions:
        parts.append(f"LookupEvents in {regions} region(s)")
    tables = sum(s.startswith("athena:") for s in act.sources)
    if tables:
        parts.append(f"{tables} Athena table(s)")
    return ", ".join(parts) or "no file or region"


def _tile(label: str, value: str, body: str) -> str:
    """One box of the answer: a label, a big value, details (all already escaped)."""
    return (
        f'<div class="ti-tile"><div class="ti-label">{html_text(label)}</div>'
        f'<div class="ti-value">{value}</div>{body}</div>'
    )


def _key_tile(inv: Investigation) -> str:
    k = inv.key
    user_type = _shown(k.user_type, FINDING_WHOLE_IN)
    who = (
        f"{user_type} <b>{_shown(k.user_name, FINDING_WHOLE_IN)}</b>" if k.user_name else user_type
    )
    body = (
        f"<p>{_e(k.kind)} key of {who}</p>"
        f"<p class='ti-note'>principal <code>{_e(k.principal_id)}</code></p>"
    )
    return _tile("Key", f"<code>{_e(k.access_key_id)}</code>", body)


def _tor_ips(inv: Investigation) -> list[str]:
    """The Tor IPs of the activity with their Tor calls, busiest first (escaped)."""
    table = inv.per_ip
    if not len(table) or "tor" not in table.columns:
        return []
    tor = table[table["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    counts = tor["tor_events"] if "tor_events" in tor.columns else tor["events"]
    pairs = sorted(
        (
            (str(ip), int(n) if pd.notna(n) else 0)
            for ip, n in zip(tor["source_ip"], counts, strict=True)
        ),
        key=lambda p: (-p[1], p[0]),
    )
    items = [
        f"<span class='ti-nowrap'><code>{_e(ip)}</code> ×{n:,}</span>"
        for ip, n in pairs[:ANSWER_MAX_ITEMS]
    ]
    if len(pairs) > ANSWER_MAX_ITEMS:
        items.append(f"+{len(pairs) - ANSWER_MAX_ITEMS} more")
    return items


def _no_tor_call(total: int, unknown: int) -> str:
    """What no call from a listed Tor exit means, given how many calls are of unknown Tor status:
    "none" only where the lists could have said so."""
    if unknown and unknown >= total:
        return "no exit list can rule Tor out for these calls: whether any came from Tor is unknown"
    if unknown:
        return (
            f"no call from a listed Tor exit node among the {total - unknown:,} of known Tor "
            "status (a list covers their time, or the address cannot be an exit)"
        )
    return "no call from a listed Tor exit node"


def _tor_tile(inv: Investigation, state: str) -> str:
    seen = f"<p class='ti-note'>GuardDuty saw <code>{_e(inv.key.tor_ip)}</code></p>"
    if state not in ("events", "counted"):
        value = {
            "denied": "could not look",
            "failed": "could not look",
            "partial": "incomplete: no call read",
            "missed": "incomplete: calls GuardDuty saw not read",
            "elsewhere": "could not look in the account",
            "nothing": "nothing read",
            "none": "no events",
        }[state]
        return _tile("Tor reading", _e(value), "<p>0 calls read</p>" + seen)
    totals = inv.totals()
    ips = _tor_ips(inv)
    body = (
        f"<p>from Tor exit nodes:</p><p>{'<br>'.join(ips)}</p>"
        if ips
        else f"<p>{_no_tor_call(totals['total'], totals['tor_unknown'])}</p>"
    )
    body += (
        f"<p class='ti-note'>all calls: {totals['total']:,} "
        f"({_e(split_text(totals['failed'], totals.get('outcome_unknown', 0)))}) from "
        f"{len(inv.per_ip):,} source IP(s)</p>"
    )
    frame = inv.by_time if inv.counted else inv.events
    if frame is not None and len(frame) and "tor" in frame.columns:
        na = frame["tor"].isna().to_numpy(dtype=bool)
        unknown = int(frame["calls"][na].sum()) if inv.counted else int(na.sum())
        if unknown:
            body += (
                f"<p><b>{unknown:,} call(s) of unknown Tor status</b> (no loaded exit list "
                "can rule Tor out for them: the data issues say why)</p>"
            )
    if inv.tor_or_only:  # "not Tor" by lists of relays' OR addresses only: worth less
        body += (
            f"<p><b>{len(inv.tor_or_only):,} source IP(s) 'not Tor' by OR-address lists "
            f"only</b> ({_e(tor.OR_ONLY_TEXT)}: the per-IP table marks them)</p>"
        )
    value = f"{tor_count(totals['from_tor'], totals['tor_unknown'])} of {totals['total']:,} calls"
    return _tile("Tor reading", _e(value), body + seen)


def _score_tile(inv: Investigation) -> str:
    s = inv.score
    reasons = []
    for r in s.reasons[:3]:
        detail = str(r.detail)
        if len(detail) > ANSWER_DETAIL_CHARS:
            detail = detail[: ANSWER_DETAIL_CHARS - 1] + "…"
        reasons.append(
            f"<li><b>{_e(r.name)}</b> +{_e(r.weight)} <span class='ti-note'>{_e(detail)}</span>"
            "</li>"
        )
    body = "<p class='ti-note'>orders what to read first — not a verdict</p>" + (
        f"<ol>{''.join(reasons)}</ol>" if reasons else "<p>no weighted signal</p>"
    )
    if s.floor or s.band == analysis.NOT_SCORED or s.note != analysis.NOT_A_VERDICT:
        body = f"<p><b>⚠ {_e(s.note)}</b></p>" + body
    return _tile("Triage score", _e(s.shown()), body)


def _verdict_tile(verdict: Mapping[str, Any]) -> str:
    status = str(verdict.get("status") or "pending")
    recorded = verdict.get("recorded_at")
    who = verdict.get("analyst") or None
    if recorded:
        body = f"<p>by <b>{_e(who)}</b> at {_time(recorded)}</p>"
    else:
        body = "<p>no verdict recorded for this finding</p>"
    if verdict.get("rationale"):
        body += f"<p class='ti-note'>{_e(verdict.get('rationale'))}</p>"
    body += "".join(f"<p><b>⚠ {_e(w)}</b></p>" for w in verdict_warnings(verdict))
    return _tile("Verdict", _e(status), body)


def verdict_warnings(verdict: Mapping[str, Any]) -> list[str]:
    """What must be read with the verdict shown (plain text): the run's verdict was NOT
    recorded (and why), it superseded another, the ledger has unreadable lines (the verdict
    shown may not be the latest)."""
    out = [str(verdict["note"])] if verdict.get("note") else []
    checked = finding_check_note(verdict) if verdict.get("status") != "pending" else None
    if checked:  # the finding not re-read when it was recorded, or changed and accepted
        out.append(checked)
    torn = len(verdict.get("ledger_issues") or [])
    if torn:
        out.append(
            f"the ledger has {torn} unreadable line(s) (see Data issues): a torn record may be "
            "a later verdict — the verdict shown may not be the latest"
        )
    return out


def _mattered_html(inv: Investigation) -> str:
    """The sensitive calls with their targets (the first :data:`ANSWER_MAX_CALLS`)."""
    found = inv.sensitive
    if not len(found):
        return (
            "<p>No call from the sensitive-actions catalogue (users, keys, policies, roles, "
            "secrets, trails… created, changed or read)"
            + (" among the calls read." if len(inv.events) or inv.counted else ": no call read.")
            + "</p>"
            + data_events.calls_note(inv)
        )
    rows = pd.DataFrame(
        {
            "event_time": found["event_time"],
            "event_name": found["event_name"],
            "target": found["target"] if "target" in found.columns else None,
            "source_ip": found["source_ip"],
            "tor": found["tor"],
            "tor_caveat": found["tor_caveat"] if "tor_caveat" in found.columns else None,
            "result": call_results(found),
            "category": found["category"],
        }
    )
    shown = display_frame(rows).rename(columns=ANSWER_CALL_LABELS)
    # the one "N of M" (torinvest.shown): section 4 and summary.json may hold parts too
    return frame_html(
        shown,
        max_rows=ANSWER_MAX_CALLS,
        what="sensitive calls",
        order="the first in time",
        more_where=SENSITIVE_ALL_IN,
    ) + data_events.calls_note(inv)


def key_calls(inv: Investigation, access_key_id: str) -> tuple[int, int, int]:
    """(calls, calls from Tor, calls of unknown Tor status) made with one key: from the rows,
    or from the engine's counts when the activity was counted (the rows then hold only the
    sensitive calls)."""
    frame = inv.by_time if inv.counted else inv.events
    if frame is None or not len(frame):
        return 0, 0, 0
    mine = frame[(frame["access_key_id"] == access_key_id).fillna(False).to_numpy(dtype=bool)]
    status = mine["tor"].astype("boolean")
    tor = status.fillna(False).to_numpy(dtype=bool)
    unknown = status.isna().to_numpy(dtype=bool)
    if inv.counted:
        calls = mine["calls"].fillna(0).to_numpy(dtype="int64")
        return int(calls.sum()), int(calls[tor].sum()), int(calls[unknown].sum())
    return len(mine), int(tor.sum()), int(unknown.sum())


def followed_derived(inv: Investigation, followed: object = None) -> bool:
    """Whether the derived keys were followed: the investigation's own record, and never more
    than the caller says (``followed``: None, a bool, or the text a notebook parameter gives —
    ``"false"`` is False)."""
    if followed is None:
        return inv.follow_derived
    return inv.follow_derived and param_bool("follow_derived", followed)


def _derived_html(inv: Investigation, followed: bool) -> str:
    passwords = password_lines(inv)
    said = (
        f"<p><b>Console passwords the key set ({len(passwords)})</b>:</p>" + _list(passwords)
        if passwords
        else ""
    )
    if not followed:
        return "<p><b>Derived keys: not followed</b> (follow_derived is off).</p>" + said
    derived = inv.activity.derived
    if not derived:
        gap = activity_gap(inv)  # "none minted" only over an activity read whole
        if gap:
            return f"<p><b>Derived keys: none found</b> — {_e(gap)}</p>" + said
        return "<p>Derived keys: none minted by this key in its activity.</p>" + said
    items = []
    for d in derived:
        calls, tor, unknown = key_calls(inv, d.access_key_id)
        elsewhere = inv.activity.role_account_unread(d)
        made = (
            f"<b>its calls not read</b> (a role of account {_e(elsewhere)}: recorded in that "
            "account's CloudTrail)"
            if elsewhere is not None and not calls
            else f"{calls:,} call(s), {from_tor(tor, unknown)}"
        )
        items.append(
            f"<code>{_e(d.access_key_id)}</code> minted with {_e(d.event_name)} at "
            f"{_time(d.event_time)} from <code>{_e(d.source_ip)}</code>: {made}"
        )
    unfollowed = [i for i in inv.activity.issues if is_unfollowed(i)]
    if unfollowed:  # keys past the pass limit: their calls are not in the activity
        items += [f"<b>not followed</b>: {_prose(i.problem)}" for i in unfollowed]
    return (
        f"<p><b>Derived keys ({len(derived)})</b> — the same actor holds them:</p>"
        + _list(items)
        + said
    )


def password_lines(inv: Investigation) -> list[str]:
    """One HTML line per console password the key or a derived key set
    (:mod:`torinvest.passwords`): the user, when and by what, and its sign-ins read — or that
    they were not read, and why ("none" only when they were read). Every value escaped: a user
    name and an address are written by whoever called."""
    out = []
    for u in inv.console_passwords:
        p = u.password
        maybe = " (<b>outcome unknown</b>: set only if it succeeded)" if p.unknown else ""
        head = (
            f"a console password for user <code>{_shown(p.user_name, SENSITIVE_ALL_IN)}</code>, set with "
            f"{_e(p.event_name)} at {_time(p.event_time)} by <code>{_e(p.set_by)}</code> from "
            f"<code>{_e(p.source_ip)}</code>{maybe}: "
        )
        if u.status == "not followed":
            use = f"its sign-ins were <b>not followed</b> ({_e(u.why)})"
        elif u.status == "not read":
            use = (
                f"its sign-ins were <b>not read</b> — whether it was used is not known "
                f"({_e(u.why)}); run <code>{_e(u.command())}</code>"
            )
        elif not u.sign_ins:
            use = _e(u.none_read())
        else:
            signs = "; ".join(
                f"{_e(s.result or 'result not recorded')} at {_time(s.event_time)} from "
                f"<code>{_e(s.source_ip)}</code> "
                f"({tor.status_label(s.tor, s.tor_caveat, unknown='Tor unknown')}, MFA "
                f"{_e(s.mfa_used or 'unknown')})"
                for s in u.sign_ins
            )
            use = f"<b>{len(u.sign_ins)} console sign-in(s)</b> of that user after it: {signs}"
            if u.signed_in and u.sessions_read:
                keys = ", ".join(f"<code>{_e(k)}</code>" for k in u.sessions) or "none made"
                use += (
                    " — the calls of its console sessions are in the activity, followed as "
                    f"derived keys (minted by ConsoleLogin): {keys}"
                )
            elif u.signed_in:
                use += (
                    " — the calls of those console sessions are <b>not</b> in the activity: "
                    f"run <code>{_e(u.command())}</code>"
                )
        out.append(head + use)
    # a password set for a user the call does not name: whose sign-ins, not known
    return out + [f"<b>{_e(unnamed_said(u))}</b>" for u in inv.unnamed_passwords]


def _next_html(inv: Investigation, verdict: Mapping[str, Any]) -> str:
    status = str(verdict.get("status") or "pending")
    fid = inv.key.finding_id
    # the access this report was made with (the external ID from a shell variable: the
    # report is posted to other services)
    access = Access.of_report(inv.sources)
    if status == "pending":
        command = verdict_command(fid, access=access)
    elif status == "legitimate":
        command = actions_command(fid, "archive", access=access)
    else:
        command = actions_command(fid, "remediate", access=access)
    then = "Record it" if status == "pending" else "After reviewing the dry-run plan below"
    note = external_id_note(access)
    return (
        f'<p class="ti-next"><b>Next step:</b> {_e(NEXT_STEPS.get(status, ""))} {then}: '
        f"<code>{_e(command)}</code>" + (f"<br>Note: {_e(note)}" if note else "") + "</p>"
    )


#: Sources the answer's provenance line names (a case, its logs, a few Tor list kinds, the
#: two geo sources: all of them, short of a long list of LookupEvents regions).
PROVENANCE_MAX_ITEMS = 12


def _provenance_html(generated: Mapping[str, Any]) -> str:
    sources = list(generated.get("sources") or [])
    shown = [_e(x) for x in sources[:PROVENANCE_MAX_ITEMS]]
    if len(sources) > PROVENANCE_MAX_ITEMS:
        shown.append(f"+{len(sources) - PROVENANCE_MAX_ITEMS} more (summary.json)")
    return (
        f'<p class="ti-prov">Generated {_time(generated.get("at"))} by '
        f"<b>{_e(generated.get('by'))}</b> with torinvest {_e(__version__)}. Sources: "
        f"{'; '.join(shown) or '—'}.</p>"
    )


def answer_html(
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    findings: FindingsResult | None = None,
    followed: object = None,
) -> str:
    """The report's first screen: the finding, whether the reading is complete (data issues,
    could not look and no events read differently), four boxes — the key, the Tor reading
    (N of M calls, which IPs), the triage score with its top reasons, the verdict —, what
    mattered (sensitive calls with their targets), derived keys, the next step, and the
    provenance (generated at, by whom, torinvest version, sources: the same as summary.json's
    ``generated``). Every value escaped."""
    from torinvest.investigation import provenance

    k = inv.key
    state, _ = activity_state(inv)
    sub = (
        f"{_e(k.finding_type)} · account {_e(k.account_id)} · {_e(k.region)} · severity "
        f"{_e(inv.finding.get('severity'))} · first seen {_time(k.first_seen)} · last seen "
        f"{_time(k.last_seen)}"
    )
    tiles = _key_tile(inv) + _tor_tile(inv, state) + _score_tile(inv) + _verdict_tile(verdict)
    return (
        '<div class="ti-answer" id="torinvest-answer">'
        f"<h1>Tor finding <code>{_e(k.finding_id)}</code></h1>"
        f'<p class="ti-sub">{sub}</p>'
        + _state_html(inv, findings, verdict)
        + f'<div class="ti-tiles">{tiles}</div>'
        + _next_html(inv, verdict)
        + "<h2>What mattered</h2>"
        + _mattered_html(inv)
        + _derived_html(inv, followed_derived(inv, followed))
        + _provenance_html(provenance(inv))
        + "</div>"
    )
