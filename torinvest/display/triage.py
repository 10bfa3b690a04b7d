"""The triage notebook's table of open findings, and in JupyterLab the buttons that make a
finding's working notebook.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
from IPython.display import HTML

from torinvest.display.cards import error_card, internal_error_card
from torinvest.display.markup import (
    TABLE_MAX_BYTES,
    _card,
    _e,
    _inert,
    _list,
    _present,
    _prose,
    _time,
    display_frame,
)
from torinvest.display.widgets import live_frontend
from torinvest.errors import InputError, TorinvestError
from torinvest.safety import term_safe

if TYPE_CHECKING:
    from torinvest.findings import FindingsResult

log = logging.getLogger(__name__)


def triage_table(
    frame: pd.DataFrame,
    found: FindingsResult | None = None,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    notebooks_dir: str | None = None,
) -> Any:
    """The open Tor findings, newest first (:func:`torinvest.report.triage_frame`; identifiers
    never wrap), then each finding's ``torinvest notebook`` and ``torinvest investigate``
    commands for these sources (:class:`TriageActions`). In JupyterLab the table is displayed
    and the list comes back as widgets, a button per finding that makes its working notebook in
    ``notebooks_dir``; under papermill both are static HTML.

    With ``found`` (the result the frame was made from): when nothing could be searched, a red
    card says so; when some regions or files could not be, an amber card says the list may be
    incomplete and where. "Nothing to triage" only when every source was searched.
    """
    if found is not None and found.sources and not found.answered:
        body = (
            "<p><b>No region or file could be searched: this is not an empty list.</b></p>"
            + _list(f"<code>{_e(i.source)}</code>: {_prose(i.problem)}" for i in found.unsearched)
        )
        return HTML(_card("Could not look: nothing was searched", body, "ti-danger"))
    gap = found.gap() if found is not None else ""
    warning = (
        _card(
            "⚠ Partial list: not every region, file or finding could be read",
            f"<p>{_e(gap)}. Open findings there are not listed.</p>",
            "ti-warn",
        )
        if gap
        else ""
    )
    if not len(frame):
        if gap:
            return HTML(
                _card(
                    "No open Tor finding where torinvest could look",
                    f"<p>{_e(gap)}: there may be open findings there. Fix the access and "
                    "re-run before concluding there is nothing to triage.</p>",
                    "ti-warn",
                )
            )
        return HTML(_card("No open Tor finding", "<p>Nothing to triage.</p>", "ti-ok"))
    actions = TriageActions(
        frame,
        case_dir=case_dir,
        profile=profile,
        regions=regions,
        role_arn=role_arn,
        external_id=external_id,
        notebooks_dir=notebooks_dir,
    )
    findings = warning + _triage_findings_html(frame)
    if not live_frontend():
        return HTML(findings + actions.static_html())
    from IPython.display import display

    display(HTML(findings))
    return actions.widget()


#: Columns of the triage table (the commands are listed below it, where they can wrap, with how
#: many findings name the same key; no severity: it follows the type — GuardDuty's default is
#: Medium for UnauthorizedAccess, Low for Recon — and the investigation's finding card shows it).
TRIAGE_SHOWN: tuple[str, ...] = (
    "last_seen",
    "id",
    "type",
    "account_id",
    "region",
    "access_key_id",
    "user_name",
    "tor_ip",
    "count",
    "archived",
)
#: Identifiers that must never wrap inside (a 32-character finding ID on one line).
TRIAGE_NOWRAP: tuple[str, ...] = (
    "last_seen",
    "id",
    "type",
    "account_id",
    "access_key_id",
    "tor_ip",
)
#: The triage table's headings (other cells wrap at spaces only, never inside a word).
TRIAGE_HEADINGS: Mapping[str, str] = {
    "last_seen": "last seen (UTC)",
    "id": "finding",
    "account_id": "account",
    "access_key_id": "access key",
    "user_name": "user",
    "tor_ip": "Tor IP",
    "count": "GuardDuty count",
}
TRIAGE_STYLE = """<style>
.ti-triage table.dataTable td,.ti-triage table.dataTable th{overflow-wrap:normal;
  word-break:normal}
.ti-triage table.dataTable td.ti-nowrap,.ti-triage-list .ti-id{white-space:nowrap;
  max-width:none}
.ti-triage-list code.ti-cmd{display:block;white-space:pre-wrap;overflow-wrap:anywhere;
  word-break:normal;background:#f0f3f6;padding:3px 6px;margin:2px 0;border-radius:3px}
.ti-triage-list td{vertical-align:top}
</style>"""


def _triage_findings_html(frame: pd.DataFrame) -> str:
    from itables import to_html_datatable

    cols = [c for c in TRIAGE_SHOWN if c in frame.columns]
    if "archived" in cols and not frame["archived"].astype("boolean").fillna(False).any():
        cols.remove("archived")  # open findings only: a column of "False" says nothing
    shown = display_frame(frame[cols])
    shown = _inert(shown.astype("object").where(shown.notna(), ""))  # a name cannot reorder
    shown.columns = [TRIAGE_HEADINGS.get(c, c.replace("_", " ")) for c in cols]
    body = to_html_datatable(
        shown,
        connected=False,
        allow_html=False,
        showIndex=False,
        maxBytes=TABLE_MAX_BYTES,
        pageLength=25,
        classes="display compact",
        scrollX=True,
        columnDefs=[
            {
                "className": "ti-nowrap",
                "targets": [cols.index(c) for c in TRIAGE_NOWRAP if c in cols],
            }
        ],
    )
    return (
        f'{TRIAGE_STYLE}<div class="ti-triage"><h3 style="margin:6px 0">Open Tor findings, newest '
        f"first ({len(frame):,})</h3>{body}</div>"
    )


#: A finding's label (a button's row) shows at most this many characters of each value (IAM
#: names are at most 64): a findings file may hold any text; the triage table has it whole.
LABEL_MAX_CHARS = 64


def _label_text(value: Any) -> str:
    """``value`` for a finding's label: control, bidi and zero-width characters shown escaped
    (as :func:`_e` shows them), cut at :data:`LABEL_MAX_CHARS` with "…", markup escaped."""
    if not _present(value):
        return _e(value)
    return html.escape(term_safe(value, limit=LABEL_MAX_CHARS), quote=True)


def _finding_label(row: Mapping[str, Any]) -> str:
    """One finding in a line: its ID, user, access key and last sighting, each value cut
    (:func:`_label_text`): a user name of a findings file may be of any length."""
    parts = [
        f"<code class='ti-id'>{_label_text(row.get('id'))}</code>",
        _label_text(row.get("user_name")) if _present(row.get("user_name")) else "",
        f"<code class='ti-id'>{_label_text(row.get('access_key_id'))}</code>"
        + (
            f" (in {_e(row.get('findings_for_key'))} findings)"
            if _present(row.get("findings_for_key")) and int(row["findings_for_key"]) > 1
            else ""
        )
        if _present(row.get("access_key_id"))
        else "",
        f"last seen {_time(row.get('last_seen'))}",
    ]
    return " · ".join(p for p in parts if p)


class TriageActions:
    """Per finding: its ``torinvest notebook`` command (the working notebook) and its
    ``torinvest investigate`` command (the report); in JupyterLab also a button that makes the
    working notebook (never overwriting one that exists) and shows a link that opens it in Lab.

    :meth:`create` is the button's callback, callable directly.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        case_dir: str | None = None,
        profile: str | None = None,
        regions: str | None = None,
        role_arn: str | None = None,
        external_id: str | None = None,
        notebooks_dir: str | None = None,
    ) -> None:
        from torinvest import notebooks
        from torinvest.options import RunOptions

        self.frame = frame
        self.options = RunOptions(
            case_dir=case_dir or None,
            profile=profile or None,
            regions=regions or "all",
            role_arn=role_arn or None,
            external_id=(external_id or None) if role_arn else None,
        )
        self.notebooks_dir = Path(notebooks_dir or notebooks.DEFAULT_DIR).expanduser().resolve()
        self.commands = {
            str(fid): notebooks.notebook_command(
                str(fid),
                case_dir=case_dir,
                profile=profile,
                regions=regions,
                role_arn=role_arn,
                external_id=external_id,
                out=self.notebooks_dir,
            )
            for fid in frame["id"]
        }
        self.buttons: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def static_html(self) -> str:
        """Every finding with its two commands (no button): the report's form."""
        rows = []
        for row in self.frame.to_dict("records"):
            rows.append(
                f"<tr><td>{_finding_label(row)}</td><td>{self._commands_html(row)}</td></tr>"
            )
        return _card(
            "Investigate a finding",
            f"<p>{self._intro()}</p>"
            '<table class="ti-table ti-triage-list"><tr><th>finding</th><th>commands</th></tr>'
            + "".join(rows)
            + "</table>",
        )

    def _intro(self) -> str:
        return (
            "<b>torinvest notebook</b> makes the finding's working notebook in "
            f"<code>{_e(self.notebooks_dir)}</code> (yours to edit; an existing one is never "
            "overwritten); <b>torinvest investigate</b> writes its report."
        )

    def _commands_html(self, row: Mapping[str, Any]) -> str:
        fid = str(row["id"])
        report_cmd = row.get("command")
        return f"<code class='ti-cmd'>{_e(self.commands[fid])}</code>" + (
            f"<code class='ti-cmd'>{_e(report_cmd)}</code>" if _present(report_cmd) else ""
        )

    def widget(self) -> Any:
        """The same list with a *Working notebook* button per finding."""
        import ipywidgets as w

        items = [
            w.HTML(
                f"<h3 style='margin:8px 0 2px 0'>Investigate a finding</h3>"
                f"<p class='ti-note'>{self._intro()}</p>"
            )
        ]
        for row in self.frame.to_dict("records"):
            fid = str(row["id"])
            button = w.Button(
                description="Working notebook",
                icon="book",
                tooltip=f"make (or find) the working notebook of {fid} and link to it",
                layout=w.Layout(width="auto", min_width="12em"),
            )
            out = w.Output()
            button.on_click(lambda _b, fid=fid: self._clicked(fid))
            self.buttons[fid], self.outputs[fid] = button, out
            items.append(
                w.VBox(
                    [
                        w.HBox([button, w.HTML(_finding_label(row))]),
                        w.HTML(f"<div class='ti-triage-list'>{self._commands_html(row)}</div>"),
                        out,
                    ],
                    layout=w.Layout(border_bottom="1px solid #d0d7de", padding="4px 0"),
                )
            )
        return w.VBox(items)

    def create(self, finding_id: str) -> Any:
        """Make (or keep) ``finding_id``'s working notebook and show the link that opens it in
        Lab; return the :class:`torinvest.notebooks.WorkingCopy`."""
        from torinvest import notebooks

        copy = notebooks.investigation_copy(finding_id, self.options, self.notebooks_dir)
        rel = os.path.relpath(copy.path, Path.cwd())
        said = (
            "new"
            if copy.status == "created"
            else "already there: kept as you left it"
            + (
                ""
                if copy.same_parameters
                else " (made with other parameters)"
                if copy.same_parameters is False
                else " (but it cannot be read as a notebook)"
            )
        )
        shown = Path(rel).as_posix()
        link = (  # the href a URL (a folder named "cases #2" is not a fragment), the text as is
            f"<a href='{_e(quote(shown))}' target='_blank'>Open "
            f"<code>{_e(shown)}</code></a> ({_e(said)})"
        )
        out = self.outputs.get(finding_id)
        if out is not None:
            out.outputs = ()
            out.append_display_data(HTML(f"<div class='ti-note'>{link}</div>"))
        return copy

    def _clicked(self, finding_id: str) -> None:
        """The button's callback: whatever goes wrong is a card under the button (ipywidgets
        would send a traceback to the log console, where the analyst never looks)."""
        try:
            self.create(finding_id)
            return
        except TorinvestError as e:
            from torinvest.notebooks import OUT_HINT

            if isinstance(e, InputError) and e.hint == OUT_HINT:  # no --out in a notebook
                e = InputError(e.message, hint=NOTEBOOKS_DIR_HINT)
            card = error_card(e)
        except Exception as e:  # a bug: said under the button, the traceback logged
            log.exception("the triage button of finding %s failed", finding_id)
            card = internal_error_card(
                e,
                done="The working notebook may or may not have been written.",
                hint="press the button again: an existing notebook is kept and linked, never "
                "overwritten; or run the torinvest notebook command shown above in a terminal",
            )
        out = self.outputs[finding_id]
        out.outputs = ()
        out.append_display_data(card)


#: What to do, in the triage notebook, when the working notebooks' folder cannot be written.
NOTEBOOKS_DIR_HINT = (
    "nothing was written; set the triage notebook's notebooks_dir parameter to a writable "
    "folder, run its cells again, then press Working notebook"
)
