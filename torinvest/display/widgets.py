"""The verdict form, in JupyterLab only (ipywidgets; never under papermill, where no one can
click): :func:`live_frontend` says which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from IPython.display import HTML

from torinvest.display.answer import verdict_recorded
from torinvest.display.assessment import next_steps, verdict_card
from torinvest.display.cards import error_card, internal_error_card
from torinvest.display.markup import _e
from torinvest.errors import InputError, NotCurrentError, TorinvestError
from torinvest.verdict import finding_check_note

if TYPE_CHECKING:
    from torinvest.investigation import Investigation

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# interactive: the verdict form and the triage buttons (JupyterLab only)
# --------------------------------------------------------------------------------------------
#: ``1`` shows the widgets, ``0`` never does, whatever :func:`live_frontend` finds.
WIDGETS_ENV = "TORINVEST_WIDGETS"


def live_frontend() -> bool:
    """True when this cell runs for a live Jupyter frontend that renders widgets (JupyterLab,
    Notebook 7: their execute requests carry the cell's ID), False under papermill/nbclient —
    no one to click, and a widget would be an empty box in the report — and outside a kernel.
    ``$TORINVEST_WIDGETS`` (``1``/``0``) overrides."""
    forced = os.environ.get(WIDGETS_ENV, "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
    except (AttributeError, KeyError, LookupError):
        return False
    metadata = (parent or {}).get("metadata") or {}
    return isinstance(metadata, Mapping) and "cellId" in metadata


def _verdict_html(inv: Investigation, verdict: Mapping[str, Any], *, suppress: bool) -> str:
    card = verdict_card(verdict, ledger=verdict.get("ledger")).data
    return str(card) + str(next_steps(inv, verdict, suppress=suppress).data)


class VerdictForm:
    """The verdict in JupyterLab: status, analyst (prefilled from ``$TORINVEST_ANALYST``, else
    the login name), rationale and a *Record verdict* button; below them the finding's current
    verdict card and the plan it leads to, redrawn after each recording.

    Recording goes through :func:`torinvest.investigation.decide` (the evidence summary stored with it;
    the same verdict again adds no record, a different one supersedes). It reads the finding
    again first: when GuardDuty changed it since this report, nothing is recorded, a warning card
    says what changed and how to re-run, and :attr:`confirm` (a checkbox, shown only then) is
    the second, explicit confirmation — it accepts only the changes the card showed.
    :meth:`record` is the button's callback, callable directly.
    """

    def __init__(
        self,
        inv: Investigation,
        verdict: Mapping[str, Any],
        *,
        suppress: bool = False,
        analyst: str | None = None,
    ) -> None:
        import ipywidgets as w

        from torinvest.verdict import DECIDED, default_analyst

        self.inv = inv
        #: the kernel's names that held ``inv`` when the form was made: a press when none does
        #: any more (the investigation made again, or removed as not current) records nothing
        self._kernel, self._names = _holders(inv)
        self.suppress = suppress
        self.ledger = verdict.get("ledger")
        self.verdict: dict[str, Any] = dict(verdict)
        #: the ledger's current decided verdict as last shown (None: none): what a press
        #: decides upon; when the ledger's changed since, a press records nothing
        self.base: dict[str, Any] | None = _decided(verdict)
        who = default_analyst() if analyst is None else analyst
        mine = verdict.get("status") in DECIDED and (verdict.get("analyst") or "") == who
        self.status = w.ToggleButtons(
            options=list(DECIDED),
            value=verdict.get("status") if mine else None,
            tooltips=["archive", "remediate", "contain, keep investigating"],
        )
        self.analyst = w.Text(
            value=who,
            description="Analyst",
            placeholder="who decides",
            style={"description_width": "6em"},
        )
        self.rationale = w.Textarea(
            value=(verdict.get("rationale") or "") if mine else "",
            description="Rationale",
            style={"description_width": "6em"},
            placeholder="why: what in the evidence above decides it",
            layout=w.Layout(width="100%", max_width="60em", height="5em"),
        )
        self.button = w.Button(
            description="Record verdict",
            button_style="primary",
            icon="check",
            tooltip="append it to the ledger with the evidence summary",
        )
        self.message = w.HTML()
        #: the second, explicit confirmation of a verdict over a finding that changed since
        #: this report read it: shown only then, and it accepts only the changes it showed
        self.confirm = w.Checkbox(
            value=False,
            description="Record it although the finding changed since this report (the "
            "evidence above does not describe what changed)",
            indent=False,
            layout=w.Layout(display="none", width="auto"),
        )
        self.shown_changes: tuple[str, ...] = ()
        self.output = w.Output()
        self.button.on_click(lambda _button: self._clicked())
        self._redraw()
        self.widget = w.VBox(
            [
                w.HTML(
                    "<b>Record the verdict</b> <span class='ti-note'>(ledger: "
                    f"<code>{_e(self.ledger)}</code>; the same verdict again adds nothing, "
                    "a different one supersedes the current one shown below; when the ledger's "
                    "current verdict changed since it was shown, nothing is recorded: the new "
                    "one is shown, press again to supersede it)</span>"
                ),
                w.HBox(
                    [
                        w.HTML(
                            "<div style='text-align:right;padding-right:8px'>Verdict</div>",
                            layout=w.Layout(width="6em", min_width="6em"),
                        ),
                        self.status,
                    ]
                ),
                self.analyst,
                self.rationale,
                self.confirm,
                w.HBox([self.button, self.message]),
                self.output,
            ]
        )

    def record(self) -> dict[str, Any]:
        """Record what the form says (InputError when it is incomplete, its hint about the
        form's fields), based on the current verdict the form shows (:attr:`base`): when the
        ledger's changed since, nothing is recorded and the new current verdict is shown (who,
        what, when; a second press supersedes it). Redraw the verdict and its plan; return the
        verdict fields (:func:`torinvest.investigation.decide`)."""
        from torinvest import investigation

        self._check_current()
        if not self.status.value:
            raise InputError("choose a verdict: legitimate, malicious or inconclusive")
        status, analyst = str(self.status.value), self.analyst.value.strip()
        rationale = self.rationale.value.strip()
        rerun = "run this notebook's cells again (Run ▸ Run All Cells), or " + (
            investigation.rerun_command(
                self.inv, status=status, analyst=analyst, rationale=rationale, ledger=self.ledger
            )
        )
        try:
            v = investigation.decide(
                self.inv,
                finding_id=self.inv.key.finding_id,
                status=str(self.status.value),
                analyst=self.analyst.value.strip(),
                rationale=self.rationale.value.strip(),
                ledger=self.ledger,
                supersede=True,  # pressing the button over the verdict shown is deliberate
                expected=self.base,
                missing_hint=FORM_HINT,
                # confirmed: only the changes the warning showed (a later change: warned again)
                finding_changed_ok=self.shown_changes if self.confirm.value else False,
                accepted_as=CHANGED_CONFIRMED,
                override=CHANGED_OVERRIDE,
                rerun=rerun,
            )
        except InputError as e:
            if e.message.startswith(("cannot write the ledger", "cannot read the ledger")):
                raise InputError(e.message, hint=LEDGER_FORM_HINT) from None
            raise
        if v.get("finding_changed"):  # nothing recorded: warn, and ask for the confirmation
            self.shown_changes = tuple(v["finding_changed"])
            self.confirm.value = False
            self.confirm.layout.display = None
            self.message.value = _changed_card(v)
            return v
        self.shown_changes = ()
        self.confirm.value = False
        self.confirm.layout.display = "none"
        self.verdict = v
        self.base = _decided(v)
        if v.get("refused"):
            said = (
                "<b>Not recorded:</b> the verdict changed since this form showed it — now "
                f"<b>{_e(v.get('status'))}</b> by <b>{_short(v.get('analyst'))}</b> at "
                f"{_e(v.get('recorded_at'))}: {_short(v.get('rationale'))}. Read it below; "
                "press again to supersede it with yours."
            )
        elif v.get("added"):
            before = v.get("superseded")
            said = f"Recorded: <b>{_e(v['status'])}</b> at {_e(v['recorded_at'])}" + (
                f" — supersedes {_e(before.get('status'))} by {_short(before.get('analyst'))} "
                f"({_e(before.get('recorded_at'))}), kept in the ledger"
                if before
                else ""
            )
        else:
            said = (
                f"Already recorded at {_e(v.get('recorded_at'))}: the same verdict, nothing added."
            )
        checked = finding_check_note(v) if v.get("added") else None
        if checked:  # not re-read (a case folder, access denied…), or changed and confirmed
            said += f"<br><b>⚠ {_e(checked)}</b>"
        self.message.value = f"<span class='ti-note'>{said}</span>"
        self._redraw()
        verdict_recorded(self.inv, v)  # the answer on top says it too
        return v

    def _check_current(self) -> None:
        """NotCurrentError when the investigation this form was made with is no longer the
        kernel's (its cells ran again, or it was removed as not current): the verdict would be
        recorded against evidence the notebook no longer shows."""
        if self._kernel is None or not self._names:
            return
        if any(self._kernel.get(name) is self.inv for name in self._names):
            return
        names = ", ".join(f"`{n}`" for n in self._names)
        raise NotCurrentError(
            f"not recorded: this form was made with an investigation that is no longer the "
            f"notebook's ({names} was made again or removed since), so the evidence it would "
            "record is not the one on screen",
            hint="run the verdict cells again (verdict = report.decide(…), then this one) and "
            "record it in the new form",
        )

    def _clicked(self) -> None:
        """The button's callback: whatever goes wrong is a card in the form (ipywidgets would
        send a traceback to the log console, where the analyst never looks)."""
        try:
            self.record()
        except TorinvestError as e:
            self.message.value = str(error_card(e).data)
        except Exception as e:  # a bug: said in the form, the traceback logged
            log.exception("the verdict form's Record verdict failed")
            self.message.value = str(internal_error_card(e, done=BUG_DONE, hint=BUG_HINT).data)

    def _redraw(self) -> None:
        self.output.outputs = ()
        self.output.append_display_data(
            HTML(_verdict_html(self.inv, self.verdict, suppress=self.suppress))
        )


def _holders(value: Any) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
    """The IPython kernel's namespace and the names in it that hold ``value`` (not IPython's
    own ``_``, ``_12``…); None and none outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return None, ()
    shell = get_ipython()
    namespace = getattr(shell, "user_ns", None)
    if not isinstance(namespace, Mapping):
        return None, ()
    names = tuple(n for n, v in list(namespace.items()) if v is value and not n.startswith("_"))
    return namespace, names


#: How the form's confirmation is said in a verdict recorded over a changed finding.
CHANGED_CONFIRMED = "confirmed in the notebook's verdict form after its warning"
#: How to record over a changed finding, in the form.
CHANGED_OVERRIDE = (
    "tick “Record it although the finding changed since this report” above the button and "
    "press Record verdict again"
)


def _changed_card(v: Mapping[str, Any]) -> str:
    """The warning shown in place of "Recorded" when the finding changed since this report:
    what changed (from → to), and the two ways on (re-run the report; or confirm)."""
    changes = "".join(f"<li>{_e(c)}</li>" for c in v.get("finding_changed") or [])
    return (
        "<div class='ti-card ti-warn'><h3>⚠ Not recorded: the finding changed since this "
        f"report</h3><ul>{changes}</ul><p>{_e(v.get('refused_why'))}</p></div>"
    )


#: What to do, in the form, when the analyst or the rationale is missing.
FORM_HINT = "fill the Analyst and Rationale fields above, then press Record verdict again"
#: What to do, in the form, when the ledger cannot be written or read.
LEDGER_FORM_HINT = (
    "nothing was recorded; set the notebook's ledger parameter (or TORINVEST_LEDGER before "
    "starting Jupyter) to a writable file, run the notebook's cells again, then press Record "
    "verdict"
)

#: What the form says after an unexpected error: the ledger may or may not have the verdict.
BUG_DONE = (
    "The verdict may or may not have been appended to the ledger: the card below is the one "
    "shown before."
)
BUG_HINT = (
    "see the finding's current verdict (re-run the verdict cells, or `torinvest verdicts "
    "--finding FINDING_ID`) before pressing Record verdict again"
)


#: The line beside the button shows at most this many characters of another analyst's name or
#: rationale (the card below it shows them whole).
MESSAGE_TEXT_CHARS = 160


def _short(value: Any) -> str:
    """``value`` escaped (:func:`_e`), cut to :data:`MESSAGE_TEXT_CHARS` with "…": a ledger's
    name or rationale can be pages long, and the message is one line beside the button."""
    text = (
        value
        if not isinstance(value, str) or len(value) <= MESSAGE_TEXT_CHARS
        else (value[: MESSAGE_TEXT_CHARS - 1] + "…")
    )
    return _e(text)


def _decided(verdict: Mapping[str, Any]) -> dict[str, Any] | None:
    """``verdict`` when it is a decided verdict in the ledger, else None."""
    from torinvest.verdict import decision_key

    return dict(verdict) if decision_key(verdict) and verdict.get("recorded_at") else None


def verdict_section(
    inv: Investigation, verdict: Mapping[str, Any], *, suppress: bool = False
) -> Any:
    """The verdict and the plan it leads to. In JupyterLab (:func:`live_frontend`): the
    :class:`VerdictForm` above them. Under papermill: the verdict card and the plan, as the
    parameters decided them (no form: nobody is there to click)."""
    if not live_frontend():
        return HTML(_verdict_html(inv, verdict, suppress=suppress))
    return VerdictForm(inv, verdict, suppress=suppress).widget
