"""Cards that stand on their own: an error (what went wrong, what to do), the files a run
wrote, the issues of a findings listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from IPython.display import HTML

from torinvest.display.markup import MAX_ISSUES_SHOWN, _card, _e, _kv, _list, _prose, _shown
from torinvest.errors import CouldNotLookError, DataIssue, FindingNotFoundError


# --------------------------------------------------------------------------------------------
# errors, files, triage
# --------------------------------------------------------------------------------------------
def error_card(error: BaseException) -> HTML:
    """A torinvest error as a short explanation: what went wrong and what to do.

    A could-not-look error (no region searched, no file read) says so in its title and lists
    what failed: it is never a "not found". A "not found" after a partial search says the
    finding may be where torinvest could not look.
    """
    hint = getattr(error, "hint", None)
    message = getattr(error, "message", None) or str(error)
    body = f"<p>{_e(message)}</p>" + (f"<p><b>What to do:</b> {_e(hint)}</p>" if hint else "")
    title = f"Stopped: {type(error).__name__}"
    failed: Sequence[DataIssue] = ()
    if isinstance(error, CouldNotLookError):
        title = "Could not look: nothing was searched (this is not a “not found”)"
        failed = error.issues
    elif isinstance(error, FindingNotFoundError) and error.unsearched:
        title = "Not found where torinvest could look: it may be where it could not"
        failed = error.unsearched
    if failed:
        items = [
            f"<code>{_e(i.source)}</code>: {_prose(i.problem)}" for i in failed[:MAX_ISSUES_SHOWN]
        ]
        if len(failed) > MAX_ISSUES_SHOWN:
            items.append(f"… and {len(failed) - MAX_ISSUES_SHOWN:,} more")
        body += "<p><b>Could not be searched:</b></p>" + _list(items)
    return HTML(_card(title, body, "ti-danger"))


def internal_error_card(error: BaseException, *, done: str, hint: str) -> HTML:
    """An unexpected exception (a bug) in a button's callback, as a card instead of a traceback
    the analyst would never see (ipywidgets sends it to the log console): what it was (type and
    first line), ``done``: what may or may not have happened before it, ``hint``: what to do.
    The caller logs the traceback."""
    first = (str(error).strip().splitlines() or [""])[0][:300]
    body = (
        f"<p>{_e(type(error).__name__)}: {_e(first)}</p><p>{_e(done)}</p>"
        f"<p><b>What to do:</b> {_e(hint)} (this is a bug in torinvest: the traceback is in "
        "the kernel's log)</p>"
    )
    return HTML(_card("Stopped: internal error", body, "ti-danger"))


def files_written(paths: Mapping[str, Any]) -> HTML:
    """The files a cell wrote (name → path; None = not asked for: a working copy's
    ``export_dir`` and ``summary_path`` are empty — never read as a write that failed, which
    raises)."""
    rows = [
        (k, f"<code>{_e(v)}</code>" if v else "not asked for (export_dir / summary_path empty)")
        for k, v in paths.items()
    ]
    return HTML(_card("Files written", _kv(rows)))


#: Where a finding's own text (its type) is whole when a card cuts it.
FINDINGS_WHOLE_IN = "the findings as read (GuardDuty or the findings file)"


def findings_issues(
    issues: Sequence[DataIssue],
    skipped: Mapping[str, int] | None = None,
    *,
    archived: int = 0,
    samples: Mapping[str, str] | None = None,
) -> HTML:
    """Findings files or regions that could not be read, findings of other types left out (by
    type), GuardDuty's sample findings left out (``samples``: ID → type) and the archived ones
    left out; a count of 0 is not said."""
    notes = [
        f"{n:,} finding(s) of type <code>{_shown(t, FINDINGS_WHOLE_IN)}</code> left out (not a "
        "Tor finding)"
        for t, n in sorted((skipped or {}).items())
        if n > 0
    ]
    if samples:
        from torinvest.findings.records import samples_left_out

        notes.append(_e(samples_left_out(samples)))
    if archived > 0:
        notes.append(
            f"{archived:,} archived finding(s) left out (<code>include_archived = True</code> "
            "lists them)"
        )
    if not issues:
        body = "<p>Every findings file or region was read.</p>" + (_list(notes) if notes else "")
        return HTML(_card("No data issues", body, "ti-ok"))
    items = [f"<code>{_e(i.source)}</code>: {_prose(i.problem)}" for i in issues[:MAX_ISSUES_SHOWN]]
    if len(issues) > MAX_ISSUES_SHOWN:
        items.append(f"… and {len(issues) - MAX_ISSUES_SHOWN:,} more")
    body = (
        f"<p><b>{len(issues)} data issue(s): findings may be missing from the table.</b></p>"
        + _list(items)
        + (_list(notes) if notes else "")
    )
    return HTML(_card("⚠ Data issues", body, "ti-warn"))


def parameter_notes(values: Mapping[str, Any], params: Any) -> HTML | None:
    """Which parameters the notebook runs with that another cell set than the one the analyst
    may have edited (:func:`torinvest.parameters.parameter_overrides`): an edit of the
    parameters cell the injected-parameters cell overrides (it runs after it), or a value a
    cell run after the injected one put in its place (Run All would use the injected one
    again). None when there is nothing to say (a report run, a working copy run in order)."""
    from torinvest.parameters import parameter_overrides

    found = [o for o in parameter_overrides(values, type(params).defaults()) if o.kind != "reset"]
    if not found:
        return None
    items = []
    for o in found:
        if o.kind == "ignored":
            items.append(
                f"<code>{_e(o.name)}</code>: your <code>{_e(repr(o.other))}</code> in the "
                f"parameters cell is <b>not used</b>: the injected-parameters cell "
                f"(<code>{_e(o.cell)}</code>) runs after it and sets "
                f"<code>{_e(repr(o.used))}</code>"
            )
        else:
            items.append(
                f"<code>{_e(o.name)}</code>: <code>{_e(repr(o.used))}</code> is used (set by "
                f"<code>{_e(o.cell)}</code>, run after the injected-parameters cell), not the "
                f"injected <code>{_e(repr(o.other))}</code>; Run All would use the injected one"
            )
    body = (
        _list(items) + "<p><b>What to do:</b> change these parameters in the injected-parameters "
        "cell (just below the parameters cell: its values win), then run the cells from it on.</p>"
    )
    return HTML(_card("⚠ Parameters set in another cell than you may think", body, "ti-warn"))
