"""The short plain-text answer a post carries, built from ``summary.json`` (and the ledger): the
report's answer-first summary for a ticket comment, a work note, a case comment, a new issue's
description.

::

    torinvest: UnauthorizedAccess:IAMUser/TorIPCaller — finding 6dde0a8f…
    Finding: account 123837392027, us-east-1, severity 5.0, seen 2023-07-10T12:17:08Z → …Z (6 times)
    Reading: complete: every source was read.
    Key: AKIATFQR7NSCUXC3DDDP (long-term) of benjamin (IAMUser)
    Tor: 24 of 69 call(s) from Tor exits (3 IP(s): 109.70.100.66, …); 10 failed
    What mattered: 11 sensitive call(s)
      - 2023-07-10T12:13:10Z CreateUser [persistence] user svc-backup-sync — 185.220.101.34 (Tor)
    Derived keys: ASIATFQR7NSCNGEI5QNT (the same actor holds them)
    Score: 100/100 (high) — a triage aid, not a verdict: sensitive:persistence (…); …
    Verdict: malicious by ana at 2023-07-11T09:00:00Z — "…"
    Next step: Assume every credential … : torinvest actions ID --plan remediate --execute
    Generated 2026-12-04T15:27:24Z by root@vm with torinvest 0.1.0.

Counts stand only where something was read: a report that could read no activity says "not
known" for the Tor calls, the sensitive calls, the derived keys and the score (never "0 of 0",
"no sensitive call", "0/100"); a partial one says "in what was read"; the Security Hub note names a
reading that is not complete.

Every value from the report is attacker-reachable text (user names, targets, rationales): it is
put on one line with control and bidi characters shown escaped (:func:`torinvest.safety.term_safe`);
each destination then keeps it inert in its own markup (Jira wiki ``{noformat}``, Jira Cloud's
ADF code block, ServiceNow ``[code]`` broken up, a Security Incident Response comment's Markdown
code block).

The verdict is the finding's current one: the report's, or a later decision in the ledger
(said so). The Security Hub workflow status follows it (:func:`workflow`): legitimate →
SUPPRESSED, malicious or inconclusive → NOTIFIED, RESOLVED once a remediation run ledgered every
change its plan had as done, none left alone (:func:`remediation_state`); pending changes no
status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torinvest.analysis import NOT_SCORED, Signal, triage_score
from torinvest.commands import SavedAccess, actions_command, saved_access, verdict_command
from torinvest.data_events import summary_data_events
from torinvest.investigation import NOTHING_READ_SOURCE, passwords_phrase
from torinvest.last_used import summary_text
from torinvest.outcome import split_text
from torinvest.safety import term_safe
from torinvest.schema import utc_or_none
from torinvest.shown import listed_items, listed_total, tor_ip_counts
from torinvest.verdict import DECIDED, NEXT_STEPS, finding_check_note, latest_verdict

#: Sensitive calls listed (the report's answer shows as many).
MAX_MATTERED = 12
#: Tor IPs named before "…".
MAX_TOR_IPS = 5
#: The longest answer, in characters (Security Incident Response comments take 12,000; Jira
#: 32,767; the answer stays readable): what is over is cut with a pointer to the report.
MAX_ANSWER_CHARS = 6000
#: Security Hub's limit on ``Note.Text`` (ASFF).
NOTE_MAX_CHARS = 512
#: Workflow status per current verdict (Security Hub ``Workflow.Status``).
WORKFLOW: dict[str, str] = {
    "legitimate": "SUPPRESSED",
    "malicious": "NOTIFIED",
    "inconclusive": "NOTIFIED",
}
#: How much of the key's activity was read (:func:`reading_state`): every source, some, none.
COMPLETE, INCOMPLETE, COULD_NOT_LOOK, NO_EVENTS = (
    "complete",
    "incomplete",
    "could not look",
    "no events",
)
#: What stands for a count over activity that could not be looked at (never "0 of 0"): the
#: sources failed, or they were read but are other accounts' (the Reading line says which).
NOTHING_READ = "not known: the key's activity could not be looked at (see Reading)"
#: ``VerificationState`` per current verdict.
VERIFICATION: dict[str, str] = {
    "legitimate": "BENIGN_POSITIVE",
    "malicious": "TRUE_POSITIVE",
    "inconclusive": "UNKNOWN",
}


def _t(value: Any, limit: int | None = 300) -> str:
    """Report text for one line: control and bidi characters escaped, cut to ``limit``."""
    return term_safe("" if value is None else value, limit=limit)


@dataclass(frozen=True, slots=True)
class Remediation:
    """A remediation run for the finding (``torinvest actions --plan remediate --execute``,
    read from the ledger).

    ``changes``: the changes the run reached (started, or found already done); ``planned``: how
    many the plan had (its first record says; None for a run ledgered before runs said so);
    ``unrecorded``: changes started whose outcome the ledger does not have (the run was stopped
    during the call: the change may or may not have been made); ``left_alone``: why each step
    it skipped as not the actor's was left alone; ``unknown``: changes whose answer was lost after
    the request may have reached AWS (made or not: nobody knows). ``complete`` only when every
    planned change is recorded done and none was left alone."""

    run_id: str
    at: str
    changes: int
    failed: int
    unrecorded: int = 0
    planned: int | None = None
    left_alone: tuple[str, ...] = ()
    unknown: int = 0

    @property
    def stopped(self) -> bool:
        """The run ended before it reached every planned change."""
        return self.planned is not None and self.changes + len(self.left_alone) < self.planned

    @property
    def complete(self) -> bool:
        return (
            self.planned is not None
            and self.changes > 0
            and not self.stopped
            and self.failed == 0
            and self.unrecorded == 0
            and self.unknown == 0
            and not self.left_alone
        )

    def count(self) -> str:
        """``7 change(s)``, or ``2 of 7 change(s) run``."""
        reached = self.changes + len(self.left_alone)
        if self.stopped:
            return f"{reached} of {self.planned} change(s) run"
        return f"{self.changes} change(s)"

    def problems(self) -> str:
        """ "; the run stopped…, N FAILED, M without an outcome, K left alone…" ("" when
        complete)."""
        out = ""
        if self.planned is None:
            out += (
                "; how many changes the plan had is unknown (a run ledgered before torinvest "
                "recorded it): not known to be complete, run the plan again (it checks before "
                "it changes)"
            )
        elif self.stopped:
            out += "; the run stopped: run the plan again (it checks before it changes)"
        out += f", {self.failed} FAILED" if self.failed else ""
        if self.unrecorded:
            out += (
                f", {self.unrecorded} without a recorded outcome (the run stopped during the "
                "call: check it in AWS, or run the plan again, which checks before it changes)"
            )
        if self.unknown:
            out += (
                f", {self.unknown} of unknown outcome (the request may have reached AWS and its "
                "answer was lost: check it in AWS, or run the plan again, which checks before it "
                "changes)"
            )
        if self.left_alone:
            reasons = Counter(self.left_alone)  # one reason often covers several steps
            out += f", {len(self.left_alone)} LEFT ALONE: " + "; ".join(
                _t(n, 200) + (f" ({k} steps)" if k > 1 else "") for n, k in reasons.items()
            )
        return out

    def brief(self) -> str:
        """What is not done, in a few words (the Security Hub note); "" when complete."""
        parts = []
        if self.planned is None:
            parts.append("not known to be complete")
        elif self.stopped:
            parts.append(f"{self.count()}: the run stopped")
        if self.failed:
            parts.append(f"{self.failed} change(s) FAILED")
        if self.unrecorded:
            parts.append(f"{self.unrecorded} change(s) without a recorded outcome")
        if self.unknown:
            parts.append(f"{self.unknown} change(s) of unknown outcome")
        if self.left_alone:
            parts.append(f"{len(self.left_alone)} left alone")
        return "; ".join(parts)


def _later(a: str, b: str) -> str:
    """The later of two ledger times (compared in UTC, not as text); a time that cannot be read
    loses to one that can (both unreadable: the first non-empty)."""
    ta, tb = utc_or_none(a or None), utc_or_none(b or None)
    if ta is None or tb is None:
        return b if ta is None and (tb is not None or not a) else a
    return b if tb > ta else a


def remediation_state(records: Sequence[Mapping[str, Any]], finding_id: str) -> Remediation | None:
    """The latest remediation run of ``finding_id`` in the ledger (the last in ledger order): a
    run (``run_id``) of ``plan: remediate`` action records that reached at least one change (a
    ``start`` of an action that changes AWS, or a step skipped as already done or left alone).
    None: no run ever reached a change."""
    runs: dict[str, dict[str, Any]] = {}
    for index, r in enumerate(records):
        if r.get("kind") != "action" or r.get("plan") != "remediate":
            continue
        if r.get("finding_id") != finding_id or not r.get("run_id"):
            continue
        run = runs.setdefault(
            str(r["run_id"]),
            {"changes": set(), "outcomes": {}, "skipped": 0, "left": [], "at": "", "planned": None},
        )
        run["at"], run["last"] = _later(run["at"], str(r.get("at") or "")), index
        if isinstance(r.get("planned_changes"), int) and not isinstance(
            r.get("planned_changes"), bool
        ):
            run["planned"] = r["planned_changes"]
        action = r.get("action") if isinstance(r.get("action"), Mapping) else {}
        phase = r.get("phase")
        if phase == "start" and action.get("changes_aws") and not action.get("manual"):
            run["changes"].add(r.get("seq"))
        elif phase == "outcome":
            run["outcomes"][r.get("seq")] = r.get("status")
        elif phase == "skipped" and r.get("status") == "already-done":
            run["skipped"] += 1
        elif phase == "skipped" and r.get("status") == "left-alone":
            run["left"].append(str(r.get("note") or "a step was left alone"))
    executed = []
    for run_id, run in runs.items():
        changes = len(run["changes"]) + run["skipped"]
        if not changes and not run["left"]:
            continue
        outcomes = [run["outcomes"].get(seq) for seq in run["changes"]]
        unrecorded = sum(o is None for o in outcomes)
        unknown = sum(o == "unknown" for o in outcomes)
        failed = sum(o not in (None, "unknown", "done", "already-done") for o in outcomes)
        state = Remediation(
            run_id,
            run["at"],
            changes,
            failed,
            unrecorded,
            run["planned"],
            tuple(run["left"]),
            unknown,
        )
        executed.append((run["last"], state))
    return max(executed, key=lambda item: item[0])[1] if executed else None


def current_verdict(
    summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """The finding's current verdict, and whether it is a later decision from the ledger than
    the report's (a decided verdict is never hidden by a pending one)."""
    fid = summary["finding"]["id"]
    own = dict(summary.get("verdict") or {"status": "pending"})
    fields = ("status", "analyst", "rationale", "recorded_at")
    in_ledger = any(
        r.get("kind") == "verdict"
        and r.get("finding_id") == fid
        and all(str(r.get(k) or "") == str(own.get(k) or "") for k in fields)
        for r in records
    )
    # the ledger's order decides (not recorded_at, a host's clock): the report's verdict is
    # where the ledger holds it, else before everything the ledger holds
    mine = list(records) if in_ledger else [{"kind": "verdict", "finding_id": fid, **own}, *records]
    current = latest_verdict(mine, fid) or own
    later = any(str(current.get(k) or "") != str(own.get(k) or "") for k in fields)
    return dict(current), later


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer of one report: ``text`` (plain, lines), the current verdict, whether it comes
    from the ledger after the report, the remediation executed (if any), and the Security Hub
    workflow and verification states it leads to (None: leave as they are)."""

    text: str
    finding_id: str
    title: str
    verdict: Mapping[str, Any]
    verdict_from_ledger: bool
    remediation: Remediation | None
    workflow: str | None
    verification: str | None
    reading: str = COMPLETE


def workflow(status: str, remediation: Remediation | None) -> str | None:
    """Security Hub ``Workflow.Status`` for a verdict ``status`` (None for pending)."""
    if status in ("malicious", "inconclusive") and remediation is not None:
        return "RESOLVED" if remediation.complete else "NOTIFIED"
    return WORKFLOW.get(status)


def build_answer(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]] = ()) -> Answer:
    """The answer of ``summary`` (summary.json's content), with the ledger's ``records``."""
    finding, key = summary["finding"], summary["key"]
    fid = str(finding["id"])
    verdict, later = current_verdict(summary, records)
    status = str(verdict.get("status") or "pending")
    state = reading_state(summary)
    remediation = remediation_state(records, fid) if status in DECIDED else None
    title = f"torinvest: {_t(finding.get('type'))} — finding {_t(fid)}"
    lines = [
        title,
        _finding_line(finding),
        "Reading: " + reading(summary),
        *_reading_notes_line(summary),
        *_data_events_line(summary),
        _key_line(key),
        *_last_used_line(summary),
        # could not look in the finding's account with events read all the same (recorded in
        # other accounts: the Reading line says so): their Tor line, as the report shows them
        _tor_line(summary)
        if state != COULD_NOT_LOOK or _events_total(summary)
        else f"Tor: {NOTHING_READ}",
    ]
    head, lines = lines, []
    derived_line = _derived_line(summary, state)
    if derived_line:
        lines.append(derived_line)
    lines.append(_score_line(summary.get("signals") or []))
    lines.append(_verdict_line(verdict, later))
    if remediation is not None:
        lines.append(
            f"Remediation: {'executed' if remediation.complete else 'NOT COMPLETE, run'} at "
            f"{_t(remediation.at)} (run {_t(remediation.run_id)}): "
            f"{remediation.count()}{remediation.problems()}"
        )
    lines += _next_lines(fid, status, remediation, saved_access(summary))
    generated = summary.get("generated") or {}
    lines.append(
        f"Generated {_t(generated.get('at'))} by {_t(generated.get('by'))} with torinvest "
        f"{_t(summary.get('torinvest_version'))}."
    )
    sensitive = summary.get("sensitive_events") or []
    # a long list of calls gives way first: the score, verdict and next step stay in the answer
    for shown in range(MAX_MATTERED, -1, -1):
        text = "\n".join(
            [
                *head,
                *_mattered_lines(
                    sensitive, state, shown, listed_total(summary, "sensitive_events")
                ),
                *lines,
            ]
        )
        if len(text) <= MAX_ANSWER_CHARS:
            break
    if len(text) > MAX_ANSWER_CHARS:
        text = (
            text[: MAX_ANSWER_CHARS - 60].rsplit("\n", 1)[0]
            + "\n… (cut here: the report has the rest)"
        )
    return Answer(
        text=text,
        finding_id=fid,
        title=title,
        verdict=verdict,
        verdict_from_ledger=later,
        remediation=remediation,
        workflow=workflow(status, remediation),
        verification=VERIFICATION.get(status),
        reading=state,
    )


def _derived_line(summary: Mapping[str, Any], state: str) -> str:
    """``Derived keys: …`` ("" when there is nothing to say): never an empty or short list
    read as the whole answer when the keys were not (all) followed; counted over all of them
    (``lists``), never the part summary.json lists."""
    derived = listed_items(summary, "derived_keys")
    total = listed_total(summary, "derived_keys")
    search = (summary.get("derived_keys_search") or {}).get("status")
    # console passwords the key set: credentials it minted (a user name, in its command, is
    # attacker-reachable text)
    said = _t(passwords_phrase(summary), None)
    if search == "not followed":
        return "Derived keys: not followed (follow_derived was off)" + said
    if state == COULD_NOT_LOOK and not derived:  # none seen in what was not read
        return f"Derived keys: {NOTHING_READ}"
    why = (summary.get("derived_keys_search") or {}).get("why")
    partial = (
        f" — the search was partial: {_t(why, 240)}"
        if search == "partial" and isinstance(why, str) and why.strip()
        else " — the search was partial: a key minted past the pass limit was not followed, or "
        "part of the activity was not read (the data issues say which)"
        if search == "partial"
        else ""
    )
    if not derived:
        return f"Derived keys: none found{partial}{said}" if partial or said else ""
    named = derived[:10]
    more = total - len(named)
    return (
        f"Derived keys: {', '.join(_t(k, 40) for k in named)}"
        + (f" and {more:,} more ({len(named)} of {total:,} named here)" if more > 0 else "")
        + " (the same actor holds them)"
        + partial
        + said
    )


def _events_total(summary: Mapping[str, Any]) -> int:
    """The summary's event total (0 when it has none)."""
    total = (summary.get("events") or {}).get("total")
    return total if isinstance(total, int) else 0


def reading_state(summary: Mapping[str, Any]) -> str:
    """:data:`COULD_NOT_LOOK` (no activity source read), :data:`INCOMPLETE` (data issues),
    :data:`NO_EVENTS` (everything read, nothing there) or :data:`COMPLETE`."""
    issues = summary.get("data_issues") or []
    if any(i.get("source") == NOTHING_READ_SOURCE for i in issues):
        return COULD_NOT_LOOK
    if issues:
        return INCOMPLETE
    if int((summary.get("events") or {}).get("total") or 0) == 0:
        return NO_EVENTS
    return COMPLETE


def reading(summary: Mapping[str, Any]) -> str:
    """Whether the reading is complete, in words that never read alike: complete, incomplete
    (data issues), could not look (no activity source read), or no events."""
    issues = summary.get("data_issues") or []
    total = int((summary.get("events") or {}).get("total") or 0)
    unread = [i for i in issues if i.get("source") == NOTHING_READ_SOURCE]
    if unread:
        return (
            f"COULD NOT LOOK: {_t(unread[0].get('problem'))} This says nothing about whether "
            "the key was used."
        )
    if issues:
        first = issues[0]
        return (
            f"INCOMPLETE: {len(issues)} data issue(s), e.g. {_t(first.get('source'), 120)}: "
            f"{_t(first.get('problem'), 200)} (the report lists them all)"
        )
    if total == 0:
        return (
            "no events: every source was read and none holds a call of this key in the window "
            "(this is not an access problem)."
        )
    return "complete: every source was read."


def _reading_notes_line(summary: Mapping[str, Any]) -> list[str]:
    """``Reading notes: …`` — what the reading rests on that is no data issue (days without
    log files the trail's digest files show quiet, their signatures not checked): a ticket's
    "complete" says what it assumed. Empty when there is none (older summaries have none)."""
    notes = [n for n in summary.get("reading_notes") or [] if isinstance(n, str)]
    if not notes:
        return []
    more = f" (and {len(notes) - 2} more in the report)" if len(notes) > 2 else ""
    return ["Reading notes: " + "; ".join(_t(n, 400) for n in notes[:2]) + more]


def _data_events_line(summary: Mapping[str, Any]) -> list[str]:
    """``Data events: …`` — whether the reading could hold the key's S3 object reads, Lambda
    invocations… (LookupEvents never returns them; a trail's log files only when it records
    them: :mod:`torinvest.data_events`). Empty for a summary written before it."""
    said = summary_data_events(summary)
    if said is None:
        return []
    return [f"Data events: {_t(said.text, 600)}"]


def _last_used_line(summary: Mapping[str, Any]) -> list[str]:
    """``Key last used (IAM): …`` — IAM's record of the key's last use against the calls read
    (:mod:`torinvest.last_used`); empty for a summary written before it."""
    text = summary_text(summary)
    return [f"Key last used (IAM): {_t(text, 400)}"] if text else []


def _finding_line(finding: Mapping[str, Any]) -> str:
    count = finding.get("count")
    return (
        f"Finding: account {_known(finding.get('account_id'))}, "
        f"{_known(finding.get('region'))}, severity {_known(finding.get('severity'))}, seen "
        f"{_known(finding.get('first_seen'))} → {_known(finding.get('last_seen'))}"
        + (f" ({_t(count)} times)" if count else "")
    )


def _known(value: Any) -> str:
    """:func:`_t`, or ``not known`` for a field the summary has no value of (a severity that
    was not a number, dropped with a data issue), never an empty place in the line."""
    return "not known" if value is None or value == "" else _t(value)


def _key_line(key: Mapping[str, Any]) -> str:
    who = key.get("user_name")
    return (
        f"Key: {_t(key.get('access_key_id'))} ({_t(key.get('kind'))})"
        + (f" of {_t(who)}" if who else "")
        + (f" ({_t(key.get('user_type'))})" if key.get("user_type") else "")
    )


def _tor_line(summary: Mapping[str, Any]) -> str:
    """``Tor: 24 of 69 call(s) from Tor exits (3 IP(s): …); 10 failed``, with the calls no exit
    list covers counted apart (:func:`torinvest.grouping.from_tor`'s words): a ticket never
    reads "0 of 69 from Tor" when nobody could check."""
    events = summary["events"]
    known, unknown = int(events.get("from_tor") or 0), int(events.get("tor_unknown") or 0)
    tor_ips = [s.get("ip") for s in summary.get("source_ips") or [] if s.get("tor")]
    # counted over every source IP, not the part summary.json lists (torinvest.shown)
    n_tor, n_unknown = tor_ip_counts(summary)
    named = ", ".join(_t(ip, 60) for ip in tor_ips[:MAX_TOR_IPS])
    if n_tor > min(len(tor_ips), MAX_TOR_IPS):
        named += ", …"
    line = f"Tor: {known:,} of {int(events.get('total') or 0):,} call(s) from Tor exits"
    if unknown:
        line += f", {unknown:,} of unknown Tor status (no loaded exit list can rule Tor out for them: the data issues say why)"
    line += f" ({n_tor:,} IP(s): {named})" if tor_ips else ""
    line += (
        f"; {split_text(int(events.get('failed') or 0), int(events.get('outcome_unknown') or 0))}"
    )
    if n_unknown:
        line += f"; {n_unknown:,} IP(s) of unknown Tor status"
        line += (
            ""
            if unknown
            else " (no loaded exit list can rule Tor out for them: the data issues say why)"
        )
    return line


def _mattered_lines(
    sensitive: Sequence[Mapping[str, Any]],
    state: str = COMPLETE,
    shown: int = MAX_MATTERED,
    total: int | None = None,
) -> list[str]:
    """``What mattered: …`` and the first ``shown`` calls: "no sensitive call" only where every
    source was read. ``total``: how many there are (``sensitive`` may be the part
    summary.json lists: :func:`torinvest.shown.listed_total`)."""
    total = len(sensitive) if total is None else max(total, len(sensitive))
    if not sensitive and state == COULD_NOT_LOOK:
        return [f"What mattered: {NOTHING_READ}"]
    if not sensitive and state == INCOMPLETE:
        return [
            "What mattered: no sensitive call in what was read (the reading is incomplete: "
            "what was not read may hold some)"
        ]
    if not sensitive:
        return ["What mattered: no sensitive call."]
    lines = [f"What mattered: {total:,} sensitive call(s)"]
    for e in sensitive[:shown]:
        tor = " (Tor)" if e.get("tor") else " (Tor status unknown)" if _unknown_tor(e) else ""
        failed = (
            f", FAILED {_t(e.get('error_code'), 60)}"
            if e.get("error_code")
            else ", OUTCOME UNKNOWN (no usable record)"
            if e.get("outcome") == "unknown"
            else ""
        )
        target = f" {_t(e.get('target'), 160)}" if e.get("target") else ""
        lines.append(
            f"  - {_t(e.get('event_time'))} {_t(e.get('event_name'), 80)} "
            f"[{_t(e.get('category'), 40)}]{target} — {_t(e.get('source_ip'), 60)}{tor}{failed}"
        )
    listed = min(shown, len(sensitive))
    if total > listed:
        lines.append(f"  … and {total - listed:,} more (in the report)")
    return lines


def _unknown_tor(event: Mapping[str, Any]) -> bool:
    """Whether a summary event says its Tor status is unknown (``"tor": null``: no exit list
    covers its time), not merely leaves it out."""
    return "tor" in event and event["tor"] is None


def _score_line(signals: Sequence[Mapping[str, Any]]) -> str:
    found = [
        Signal(str(s.get("name")), str(s.get("detail") or ""), int(s.get("weight") or 0))
        for s in signals
    ]
    score = triage_score(found)
    if score.band == NOT_SCORED:  # 0 over nothing read is not a quiet key
        return (
            "Score: not scored — the key's activity could not be looked at, so no signal could "
            "be seen (this is not a quiet key)"
        )
    reasons = "; ".join(f"{_t(s.name, 60)} ({_t(s.detail, 120)})" for s in score.reasons[:3])
    floor = (
        "at least " if score.floor else "",
        " on incomplete evidence (a floor: see the data issues)" if score.incomplete else "",
    )
    if score.no_baseline:  # no call before the first sighting: not a data issue
        floor = (
            floor[0],
            floor[1]
            + (" and" if score.incomplete else "")
            + " without a baseline (a floor: no call of the key before the finding's first "
            "sighting, so the new IP/user agent/ASN/country signals could not be evaluated"
            + (f"; at most {score.ceiling}/100" if score.ceiling is not None else "")
            + ")",
        )
    return (
        f"Score: {floor[0]}{score.score}/100 ({score.band}){floor[1]} — a triage aid, not a "
        "verdict" + (f": {reasons}" if reasons else "")
    )


def _verdict_line(verdict: Mapping[str, Any], later: bool) -> str:
    status = str(verdict.get("status") or "pending")
    if status == "pending":
        line = "Verdict: pending (no decision yet)"
    else:
        line = (
            f"Verdict: {_t(status)} by {_t(verdict.get('analyst'), 80)} at "
            f'{_t(verdict.get("recorded_at"))} — "{_t(verdict.get("rationale"), 400)}"'
        )
    checked = finding_check_note(verdict) if status != "pending" else None
    return (
        line
        + (" (recorded in the ledger after this report)" if later else "")
        + (f" — {_t(checked, 400)}" if checked else "")
    )


def _next_lines(
    fid: str, status: str, remediation: Remediation | None, saved: SavedAccess
) -> list[str]:
    """``Next step: … COMMAND`` over the access the report's run was given (``saved``, from
    summary.json's ``access``: the command reads what the report read, not the analyst's
    default account and regions), then a ``Note:`` line per note of ``saved`` (the access not
    recorded; the external ID read from a shell variable). The command is shell-quoted and
    given whole (a path the run was given stays one argument)."""
    access = saved.access
    if status == "pending":
        command, then = verdict_command(fid, access=access), "Record it"
    elif status == "legitimate":
        command, then = actions_command(fid, "archive", access=access), "Then"
    else:
        if remediation is not None and remediation.complete:
            return [
                "Next step: remediation executed; confirm with the principal's owner and "
                "review what the plan lists as manual steps."
            ]
        if (
            remediation is not None
            and remediation.left_alone
            and not (remediation.stopped or remediation.failed or remediation.unrecorded)
        ):
            return [
                f"Next step: remediation run, but {len(remediation.left_alone)} step(s) were left "
                "alone (not the actor's, as the Remediation line says): check them by hand, "
                "then confirm with the principal's owner."
            ]
        command, then = actions_command(fid, "remediate", access=access), "Then"
    return [
        f"Next step: {NEXT_STEPS.get(status, '')} {then}: {command}",
        *(f"Note: {_t(note, None)}" for note in saved.notes),
    ]


#: What the Security Hub note says of a reading that is not complete (a verdict or a workflow
#: status alone would read as made on the whole activity).
_NOTE_READING = {
    COULD_NOT_LOOK: " Reading: COULD NOT LOOK (the key's activity in the finding's account was "
    "not read; says nothing about use there).",
    INCOMPLETE: " Reading: INCOMPLETE (data issues: see the report).",
}


def security_hub_note(answer: Answer, where: str) -> tuple[str, str]:
    """Security Hub ``Note.Text`` (≤ 512 characters: verdict, analyst, one line of why, the
    remediation, where the report is) and ``Note.UpdatedBy``."""
    v = answer.verdict
    status = str(v.get("status") or "pending")
    analyst = _t(v.get("analyst"), 80) if v.get("analyst") else ""
    head = f"torinvest verdict: {status}" + (f" by {analyst}" if analyst else "")
    if v.get("recorded_at"):
        head += f" ({_t(v.get('recorded_at'), 40)})"
    tail = _NOTE_READING.get(answer.reading, "")
    if answer.remediation is not None:
        r = answer.remediation
        said = r.brief()
        tail += (
            f" Remediation executed {_t(r.at, 40)}."
            if r.complete
            else f" Remediation NOT COMPLETE, run {_t(r.at, 40)} ({said})."
        )
    tail += f" Report: {_t(where, 200)}"
    why = " ".join(str(v.get("rationale") or "").split())
    room = NOTE_MAX_CHARS - len(head) - len(tail) - 4
    why_text = _t(why, max(room, 0)) if status != "pending" and why and room > 10 else ""
    text = f"{head}: {why_text}." if why_text else f"{head}."
    text = (text + tail)[:NOTE_MAX_CHARS]
    by = f"torinvest ({analyst})" if analyst else "torinvest"
    return text, by[:NOTE_MAX_CHARS]
