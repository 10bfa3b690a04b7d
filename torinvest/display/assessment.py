"""Sections 4–6 of the report: signals and the triage score, derived keys, the verdict and
the plans it leads to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from IPython.display import HTML

from torinvest import analysis, tor
from torinvest.commands import Access, actions_command, command, external_id_note
from torinvest.display import data_events
from torinvest.display.activity import activity_gap, verdict_ledger_issues
from torinvest.display.answer import (
    followed_derived,
    key_calls,
    password_lines,
    verdict_warnings,
)
from torinvest.display.markup import (
    SENSITIVE_ALL_IN,
    _card,
    _e,
    _kv,
    _list,
    _prose,
    _time,
    display_frame,
    frame_html,
    with_caveat,
)
from torinvest.errors import InputError
from torinvest.grouping import tor_count
from torinvest.investigation import report_issues
from torinvest.outcome import outcome_labels
from torinvest.schema import expiration_time
from torinvest.shown import limit
from torinvest.sources.records import MAX_DERIVED_ROUNDS, is_unfollowed
from torinvest.verdict import NEXT_STEPS

if TYPE_CHECKING:
    from torinvest.actions import Plan
    from torinvest.investigation import Investigation


# --------------------------------------------------------------------------------------------
# 4. signals and triage score
# --------------------------------------------------------------------------------------------
def score_card(inv: Investigation) -> HTML:
    """The triage score, its band and reasons, and that it is not a verdict."""
    s = inv.score
    kind = {
        "high": "ti-danger",
        "medium": "ti-warn",
        analysis.NOT_SCORED: "ti-warn",
        analysis.INCOMPLETE: "ti-warn",
        analysis.NO_BASELINE: "ti-warn",
    }.get(s.band, "")
    reasons = [f"<b>{_e(r.name)}</b> (+{_e(r.weight)}): {_prose(r.detail)}" for r in s.reasons] or [
        "no weighted signal"
    ]
    figure = (
        _e(s.shown())  # "not scored": no number over nothing read
        if s.band == analysis.NOT_SCORED
        else f"{'at least ' if s.floor else ''}{_e(s.score)} / {analysis.MAX_SCORE}"
    )
    body = (
        f"<p><span class='ti-big'>{figure}</span> &nbsp;band: <b>{_e(s.band)}</b></p>"
        f"<p><b>{_e(s.note)}</b></p>"
        "<p>Weighed most:</p>" + _list(reasons)
    )
    return HTML(_card("Triage score — not a verdict", body, kind))


def signals_table(inv: Investigation) -> HTML:
    """Every signal with its detail and weight (weight 0 = information)."""
    if not inv.signals:
        return HTML('<p class="ti-note">No signal.</p>')
    frame = pd.DataFrame([s.to_dict() for s in inv.signals], columns=["name", "weight", "detail"])
    return HTML(frame_html(frame))


SENSITIVE_SHOWN: tuple[str, ...] = (
    "event_time",
    "category",
    "event_name",
    "target",
    "source_ip",
    "tor",
    "error_code",
    "outcome",
    "access_key_id",
    "derived",
    "event_source",
    "mitre_technique",
    "note",
)


def sensitive_table(inv: Investigation) -> HTML:
    """The calls from the sensitive-actions catalogue (persistence, privilege escalation…),
    each with its target: what it created, changed or read (:mod:`torinvest.targets`)."""
    if not len(inv.sensitive):
        gap = activity_gap(inv)  # "none" only over an activity read whole
        said = "None of the catalogued sensitive calls" + (f": {gap}" if gap else ".")
        body = f"<p>{_e(said)}</p>" + data_events.calls_note(inv)  # S3 reads: data events
        return HTML(_card("Sensitive calls", body, "ti-warn" if gap else ""))
    found = inv.sensitive.assign(outcome=outcome_labels(inv.sensitive))
    cols = [c for c in SENSITIVE_SHOWN if c in found.columns]
    shown = display_frame(found[with_caveat(cols, found)])  # "not Tor (OR-address lists only)"
    return HTML(
        _card(
            f"Sensitive calls ({len(found)})",
            frame_html(
                shown,
                what="sensitive calls",
                order="in time order",
                more_where=SENSITIVE_ALL_IN,
            )
            + data_events.calls_note(inv),
        )
    )


# --------------------------------------------------------------------------------------------
# 5. derived keys
# --------------------------------------------------------------------------------------------
def _unfollowed_html(inv: Investigation) -> str:
    """What the derived-keys card says of keys minted past the pass limit: not listed, their
    calls not in the activity (the data issues name them)."""
    unfollowed = [i for i in inv.activity.issues if is_unfollowed(i)]
    if not unfollowed:
        return ""
    return (
        f"<p><b>Not every derived key was followed</b>: keys minted after "
        f"{MAX_DERIVED_ROUNDS} rounds of role chaining are not listed here and their calls "
        "are <b>not</b> in the activity above, nor revoked by the plan: "
        + "; ".join(f"<code>{_prose(i.problem)}</code>" for i in unfollowed)
        + "</p>"
    )


def _derived_where(derived: Sequence[object]) -> str:
    """Where every derived key is, for the card's "N of M" note: summary.json's
    ``derived_keys`` while it lists them all; past its own limit nowhere (no export holds
    them), never named as a list that holds only part of them."""
    return "summary.json (derived_keys)" if len(derived) <= limit("summary_items") else ""


def key_origin_html(inv: Investigation) -> str:
    """The card of who minted the finding's key (summary.json's ``key_origin``): the minting
    records and their principal (every value escaped: user and session names are written by
    whoever called), or why that is not known — "not in window", "not searched" are never "none".
    """
    origin = inv.key_origin()
    kid = origin.access_key_id
    if origin.status != "found":
        if inv.key.kind != "temporary" and origin.status == "not in window":
            return _card(
                "Where the key came from",
                f"<p>Who created long-term key <code>{_e(kid)}</code> is not known: "
                f"{_e(origin.why)}.</p>",
            )
        return _card(
            f"Where the key came from: {origin.status}",
            f"<p>Who minted <code>{_e(kid)}</code> is <b>not known</b> ({_e(origin.status)}): "
            f"{_e(origin.why)}. Whoever holds the credential that minted it can mint new ones "
            "after this key is revoked.</p>",
            "ti-warn",
        )
    rows = [
        {
            "minted by": m.principal,
            "principal type": m.principal_type,
            "upstream key": m.principal_key,
            "call": m.event_name,
            "at": _time(m.event_time),
            "from IP": m.source_ip,
            "Tor then": tor.status_label(m.tor, m.tor_caveat),  # the tables' words
            "role": m.role_arn,
            "session name": m.session_name,
            "region": m.region,
            "event ID": m.event_id,
        }
        for m in origin.mints
    ]
    body = (
        f"<p><code>{_e(kid)}</code> was minted by the principal(s) below. Revoking this key "
        "(or its role's sessions) does not stop them minting new ones: investigate each, and "
        "deactivate it too when the mint came from Tor or is not its usual caller's. The "
        "remediation plan names them (no step acts on them: a human decides).</p>"
        + frame_html(pd.DataFrame(rows), what="minting records")
    )
    from_tor = any(m.tor for m in origin.mints)
    return _card("Where the key came from", body, "ti-danger" if from_tor else "ti-warn")


def derived_keys(inv: Investigation, *, followed: object = None) -> HTML:
    """Who minted the key (:func:`key_origin_html`), then the keys minted by the suspect key
    (same actor), and what they did; "not followed" when the investigation did not follow them
    (``followed``: see :func:`followed_derived`)."""
    return HTML(key_origin_html(inv) + _derived_keys_html(inv, followed) + _passwords_html(inv))


def _passwords_html(inv: Investigation) -> str:
    """The card of the console passwords the key or a derived key set (summary.json's
    ``console_passwords``): credentials it minted, as keys are; whether they were used
    (sign-ins read, or not read and why). Nothing when it set none."""
    lines = password_lines(inv)
    if not lines:
        return ""
    used = any(u.signed_in for u in inv.console_passwords)
    unread = any(u.status != "read" for u in inv.console_passwords) or bool(inv.unnamed_passwords)
    body = (
        "<p>A console password is a credential the key minted, as a key is: whoever set it "
        "can sign in to the console as that user (ConsoleLogin) after the key is revoked; "
        "remediation must delete the login profile too.</p>" + _list(lines)
    )
    kind = "ti-danger" if used else "ti-warn"
    title = "Console passwords set" + (": use not read" if unread else "")
    return str(_card(f"{title} ({len(lines)})", body, kind))


def _derived_keys_html(inv: Investigation, followed: object) -> str:
    derived = inv.activity.derived
    if not followed_derived(inv, followed):
        return str(
            _card(
                "Derived keys: not followed",
                "<p>follow_derived is off: keys minted by this key (GetSessionToken, "
                "AssumeRole, GetFederationToken, CreateAccessKey) were not searched.</p>",
                "ti-warn",
            )
        )
    if not derived:
        gap = activity_gap(inv)  # "none minted" only over an activity read whole
        return str(
            _card(
                "Derived keys",
                "<p>No key minted by this key was found in its activity "
                "(responseElements.credentials of GetSessionToken, AssumeRole, "
                "GetFederationToken; responseElements.accessKey of CreateAccessKey)"
                + (f": <b>{_e(gap)}</b></p>" if gap else ".</p>"),
                "ti-warn" if gap else "",
            )
        )
    rows = []
    for d in derived:
        calls, tor, unknown = key_calls(inv, d.access_key_id)
        made: object = calls
        made_tor = tor_count(tor, unknown)
        elsewhere = inv.activity.role_account_unread(d)
        if elsewhere is not None and not calls:  # recorded in an account not read: not "0"
            made = made_tor = f"not read (recorded in account {elsewhere})"
        rows.append(
            {
                "derived key": d.access_key_id,
                "minted by": d.minted_by,
                "call": d.event_name,
                "minted at": _time(d.event_time),
                "from IP": d.source_ip,
                "role": d.role_arn,
                "expires": _expires(d.expiration),
                "calls made with it": made,
                "of them from Tor": made_tor,
            }
        )
    body = (
        "<p>The same actor holds these keys: their calls are in the activity above "
        "(flagged <code>derived</code>), and remediation must revoke them too.</p>"
        + _unfollowed_html(inv)
        + frame_html(pd.DataFrame(rows), what="derived keys", more_where=_derived_where(derived))
    )
    return _card(f"Derived keys ({len(derived)})", body, "ti-warn")


# --------------------------------------------------------------------------------------------
# 6. verdict and next steps
# --------------------------------------------------------------------------------------------
def _expires(value: str | None) -> str | None:
    """A derived key's expiration as the report's other times (CloudTrail writes
    ``Jul 12, 2023, 12:20:04 AM``: a 12-hour clock, no zone); text that is not a time as is."""
    ts = expiration_time(value)
    return value if ts is None else _time(ts)


def verdict_card(verdict: Mapping[str, Any], *, ledger: str | None = None) -> HTML:
    """The verdict, who decided and why, whether it is recorded, and what it means next."""
    status = str(verdict.get("status") or "pending")
    kind = {"malicious": "ti-danger", "inconclusive": "ti-warn", "legitimate": "ti-ok"}.get(
        status, ""
    )
    recorded = verdict.get("recorded_at")
    rows = [
        ("status", f"<span class='ti-big'>{_e(status)}</span>"),
        ("analyst", _e(verdict.get("analyst") or None)),
        ("rationale", _e(verdict.get("rationale") or None)),
        (
            "recorded",
            f"{_e(recorded)} in {_e(ledger)}"
            if recorded and ledger
            else _e(recorded)
            if recorded
            else "not recorded (pending)",
        ),
        ("what it means next", _e(NEXT_STEPS.get(status, ""))),
    ]
    warnings = verdict_warnings(verdict)
    if warnings:
        rows.insert(0, ("⚠ read first", "<br>".join(f"<b>{_e(w)}</b>" for w in warnings)))
        kind = "ti-warn" if kind != "ti-danger" else kind
    return HTML(_card("Verdict", _kv(rows), kind))


def plan_frame(plan: Plan) -> pd.DataFrame:
    """A plan as rows: step, what it does to AWS, the call, region, what it acts on, why, the
    AWS CLI command (or what to do by hand)."""
    rows = []
    for n, a in enumerate(plan.actions, start=1):
        effect = "by hand" if a.manual else ("changes AWS" if a.changes_aws else "read only")
        rows.append(
            {
                "#": n,
                "effect": effect,
                "call": f"{a.service}:{a.operation}",
                "region": a.region,
                "on": ", ".join(a.targets) or None,
                "why": a.why,
                "AWS CLI equivalent (not executed)": a.cli(),
            }
        )
    cols = ["#", "effect", "call", "region", "on", "why", "AWS CLI equivalent (not executed)"]
    return pd.DataFrame(rows, columns=cols)


def _plan_html(title: str, plan: Plan, command: str, who: str, kind: str = "") -> str:
    """A plan's card: dry run, whose credentials, the plan's notes (before its calls, as
    ``torinvest actions`` prints them: "built from incomplete evidence" is read first), the
    calls."""
    notes = "<p><b>Notes:</b></p>" + _list(_e(n) for n in plan.notes) if plan.notes else ""
    body = (
        "<p><b>DRY RUN: nothing here has been executed.</b> The notebook never executes "
        "actions; review the calls, then run them with "
        f"<code>{_e(command)}</code> (it refuses without a matching verdict in the ledger or "
        "with credentials of another account; each call is printed before it runs and "
        "ledgered with its answer).</p>"
        f"<p><b>Credentials:</b> {_e(who)}</p>"
        + notes
        + (
            frame_html(
                plan_frame(plan),
                what="calls",
                # the dry run lists the whole plan; the command with --execute runs it
                more_where=f"the dry run of {command.replace(' --execute', '', 1)}",
            )
            if plan.actions
            else "<p>No API call to make.</p>"
        )
    )
    return _card(title, body, kind)


def suppression_notes(
    finding: Mapping[str, Any], fid: str, access: Access | None = None
) -> list[str]:
    """For each suppression scope, what its rule would hide and the command that makes it, or
    why torinvest refuses it (the analyst picks one: there is no default scope)."""
    from torinvest import actions

    notes: list[str] = []
    for scope in actions.SUPPRESSION_SCOPES:
        try:
            words = actions.scope_words(finding, scope)
            actions.suppression_criteria(finding, scope)
        except InputError as e:
            notes.append(f"suppression rule --scope {scope}: refused: {e.message}")
        else:
            cmd = command(
                "actions",
                fid,
                access=access,
                extra=["--plan", "archive", "--suppress", "--scope", scope, "--execute"],
            )
            notes.append(f"suppression rule --scope {scope}: archives {words} ({cmd})")
    return notes


def next_steps(
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    suppress: bool = False,
    now: pd.Timestamp | None = None,
) -> HTML:
    """The plan the verdict leads to, as a dry-run table with the AWS CLI equivalents, and whose
    credentials ``--execute`` would use (an online investigation asks STS; a case folder says
    where the credentials would come from, without calling AWS).

    legitimate: archive (and, with ``suppress``, what a suppression rule of each scope would
    hide, or why it is refused: :func:`suppression_notes`);
    malicious/inconclusive: the remediation plan; pending: both, as previews.
    """
    from torinvest import actions, runner

    status = str(verdict.get("status") or "pending")
    fid = inv.key.finding_id
    aws = inv.sources.aws
    # the report is posted to other services: the external ID from a shell variable
    access = Access.of_report(inv.sources)
    said = external_id_note(access)
    parts: list[str] = []
    if status in ("legitimate", "pending"):
        cmd = actions_command(fid, "archive", access=access)
        title = "Archive plan" if status == "legitimate" else "If legitimate: archive plan"
        try:
            plan = actions.plan_archive(inv.finding)
        except InputError as e:
            parts.append(_card(title, f"<p>No archive plan: {_e(e)}</p>", "ti-warn"))
        else:
            plan.notes.append(
                "only the GuardDuty administrator account (or a standalone account) can archive "
                "findings and create suppression rules"
            )
            if suppress:
                plan.notes.extend(suppression_notes(inv.finding, fid, access))
            if said:
                plan.notes.append(said)
            if inv.could_not_look:  # a legitimate verdict recorded from it archives nothing
                plan.notes.insert(
                    0,
                    f"COULD NOT LOOK at the key's activity ({inv.could_not_look}): a legitimate "
                    "verdict recorded from this reading is not followed by --execute (it says "
                    "nothing about whether the key was used); investigate with credentials that "
                    "can read it first",
                )
            parts.append(_plan_html(title, plan, cmd, runner.whose_credentials(plan, aws)))
    if status in ("malicious", "inconclusive", "pending"):
        cmd = actions_command(fid, "remediate", access=access)
        title = "Remediation plan" if status != "pending" else "If not legitimate: remediation plan"
        plan = actions.plan_remediation(
            inv.key,
            inv.events,
            now=now,
            # as the report's answer and Data issues card count them (findings files and the
            # ledger's unreadable lines too): one reading, one count
            data_issues=len(report_issues(inv, ledger_issues=verdict_ledger_issues(verdict))),
            could_not_look=inv.could_not_look,
            origin=inv.key_origin(),
            passwords=inv.console_passwords,
        )
        if said:
            plan.notes.append(said)
        who = runner.whose_credentials(plan, aws)
        parts.append(
            _plan_html(title, plan, cmd, who, "ti-danger" if status == "malicious" else "")
        )
    return HTML("".join(parts))
