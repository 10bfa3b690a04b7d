"""The interactive parts of the notebooks, driven through their callbacks (as a click would):
the verdict form records once, supersedes, shows the plan; the triage buttons make working
notebooks and link to them; neither is shown without a live frontend."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from torinvest import display, investigation, report
from torinvest.case import sample_case
from torinvest.verdict import read_ledger

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"


@pytest.fixture(scope="module")
def inv() -> investigation.Investigation:
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    return investigation.investigate(FINDING, sources)


def _html(output_widget: object) -> str:
    return json.dumps([o["data"].get("text/html", "") for o in output_widget.outputs])


def test_live_frontend_is_a_cell_run_by_a_jupyter_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    monkeypatch.delenv(display.WIDGETS_ENV, raising=False)
    assert display.live_frontend() is False  # no kernel at all
    parent: dict = {"metadata": {}}
    kernel = SimpleNamespace(get_parent=lambda: parent)
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=kernel))
    assert display.live_frontend() is False  # nbclient/papermill: no cell ID
    parent["metadata"] = {"cellId": "3f1c", "deletedCells": [], "recordTiming": False}
    assert display.live_frontend() is True  # JupyterLab's execute_request
    monkeypatch.setenv(display.WIDGETS_ENV, "0")
    assert display.live_frontend() is False


def test_the_verdict_form_records_once_supersedes_and_shows_the_plan(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    verdict = report.decide(inv, finding_id=FINDING, ledger=ledger)
    form = display.VerdictForm(inv, verdict, analyst="ana")
    assert form.status.value is None and form.analyst.value == "ana"
    assert "not recorded (pending)" in _html(form.output)

    form.button.click()  # no status chosen
    assert "choose a verdict" in form.message.value
    assert not ledger.exists()

    form.status.value = "malicious"
    form.rationale.value = "Tor calls <b>and</b> CreateUser svc-backup-sync"
    form.button.click()
    assert "Recorded: <b>malicious</b>" in form.message.value
    shown = _html(form.output)
    assert "Remediation plan" in shown and "aws iam update-access-key" in shown
    assert "Tor calls &lt;b&gt;and&lt;/b&gt;" in shown  # the analyst's text stays text
    form.button.click()  # the same verdict: nothing added
    assert "Already recorded" in form.message.value

    form.status.value = "legitimate"
    form.rationale.value = "red team drill, ticket 42"
    got = form.record()
    assert got["added"] and got["superseded"]["status"] == "malicious"
    assert "supersedes malicious by ana" in form.message.value
    assert "Archive plan" in _html(form.output)

    records, _ = read_ledger(ledger)
    assert [r["status"] for r in records] == ["malicious", "legitimate"]
    assert records[0]["evidence"]["events"] == 71 and records[0]["access_key_id"]

    # a new form (the notebook re-run) starts from this analyst's current verdict
    again = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    assert (again.status.value, again.rationale.value) == (
        "legitimate",
        "red team drill, ticket 42",
    )
    other = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="bob"
    )
    assert (other.status.value, other.rationale.value) == (None, "")


def test_without_a_frontend_the_section_is_the_card_and_the_plan(
    inv: investigation.Investigation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(display.WIDGETS_ENV, raising=False)
    verdict = report.decide(inv, finding_id=FINDING, ledger=tmp_path / "l.jsonl")
    shown = display.verdict_section(inv, verdict)
    assert isinstance(shown, display.HTML)
    assert "not recorded (pending)" in shown.data and "If not legitimate" in shown.data
    monkeypatch.setenv(display.WIDGETS_ENV, "1")
    assert type(display.verdict_section(inv, verdict)).__name__ == "VBox"


def test_triage_buttons_make_working_notebooks_and_link_to_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the kernel's folder: the triage notebook's
    found = report.open_findings(
        investigation.sources_from_parameters(case_dir=str(sample_case().root))
    )
    frame = report.triage_frame(found, case_dir=str(sample_case().root))
    actions = display.TriageActions(frame, case_dir=str(sample_case().root), notebooks_dir="inv")
    box = actions.widget()
    assert set(actions.buttons) == {FINDING, OTHER_FINDING}
    assert box.children[0].value.startswith("<h3")
    command = actions.commands[FINDING]
    assert command == (
        f"torinvest notebook {FINDING} --case={sample_case().root.resolve()} "
        f"--out={tmp_path / 'inv'}"
    )
    actions.buttons[FINDING].click()
    path = tmp_path / "inv" / f"finding-{FINDING}" / "investigate.ipynb"
    assert path.is_file()
    link = _html(actions.outputs[FINDING])
    assert f"href='inv/finding-{FINDING}/investigate.ipynb'" in link and "(new)" in link
    path.write_text(path.read_text().replace("Tor finding investigation", "edited"))
    actions.buttons[FINDING].click()
    assert "already there: kept as you left it" in _html(actions.outputs[FINDING])
    assert "edited" in path.read_text()

    static = display.triage_table(frame, case_dir=str(sample_case().root), notebooks_dir="inv")
    assert command in static.data
    assert "Working notebook" not in static.data  # no button where nobody can click it


def test_a_stale_form_records_nothing_shows_the_new_verdict_then_supersedes_it(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    """The form decides upon the verdict it shows: another analyst's later one is shown (who,
    what, when) instead of being quietly replaced; pressing again supersedes it deliberately."""
    from torinvest.verdict import make_verdict, record_decision

    ledger = tmp_path / "ledger.jsonl"
    form = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    form.status.value, form.rationale.value = "malicious", "tor + CreateUser"
    assert form.record()["added"]
    bob = make_verdict(FINDING, status="legitimate", analyst="bob", rationale="owner: pentest")
    record_decision(bob, ledger)  # `torinvest verdict` elsewhere, after the form was drawn

    got = form.record()  # the same press again: nothing recorded
    assert not got["added"] and got["refused"]["status"] == "malicious"
    assert [r["status"] for r in read_ledger(ledger)[0]] == ["malicious", "legitimate"]
    said = form.message.value
    assert "Not recorded" in said and "<b>legitimate</b> by <b>bob</b>" in said
    assert bob.recorded_at in said and "owner: pentest" in said and "press again" in said
    assert "owner: pentest" in _html(form.output)  # the card shows bob's, the current one

    again = form.record()  # seen it: now it supersedes bob's
    assert again["added"] and again["superseded"]["analyst"] == "bob"
    assert "supersedes legitimate by bob" in form.message.value
    assert [r["status"] for r in read_ledger(ledger)[0]] == ["malicious", "legitimate", "malicious"]


@pytest.mark.parametrize(
    ("analyst", "rationale", "ledger_name", "hint"),
    [
        ("", "why", "l.jsonl", "fill the Analyst and Rationale fields"),
        ("ana", " \n", "l.jsonl", "fill the Analyst and Rationale fields"),
        ("ana", "why", "file/l.jsonl", "set the notebook&#x27;s ledger parameter"),
    ],
)
def test_the_forms_error_card_says_what_to_do_in_the_form(
    inv: investigation.Investigation,
    tmp_path: Path,
    analyst: str,
    rationale: str,
    ledger_name: str,
    hint: str,
) -> None:
    (tmp_path / "file").write_text("x")
    ledger = tmp_path / ledger_name
    form = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst=analyst
    )
    form.status.value, form.rationale.value = "malicious", rationale
    form.button.click()
    assert "What to do:</b> " in form.message.value and hint in form.message.value
    assert "--analyst" not in form.message.value and "--ledger" not in form.message.value
    assert not ledger.exists()


def _triage_actions(notebooks_dir: str) -> display.TriageActions:
    case = str(sample_case().root)
    found = report.open_findings(investigation.sources_from_parameters(case_dir=case))
    actions = display.TriageActions(
        report.triage_frame(found, case_dir=case), case_dir=case, notebooks_dir=notebooks_dir
    )
    actions.widget()
    return actions


def test_a_callback_that_fails_unexpectedly_shows_a_card_not_a_traceback(
    inv: investigation.Investigation,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ipywidgets sends a callback's exception to the log console (no kernel: a warning): the
    analyst would press a button and see nothing. Any exception is a card where they look."""
    from torinvest import notebooks

    monkeypatch.chdir(tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    form = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    form.status.value, form.rationale.value = "malicious", "tor + CreateUser"

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device <b>")

    monkeypatch.setattr(investigation, "decide", disk_full)
    monkeypatch.setattr(notebooks, "investigation_copy", disk_full)
    with caplog.at_level("WARNING"):
        form.button.click()
        actions = _triage_actions("inv")
        actions.buttons[FINDING].click()
    said = form.message.value
    assert "Stopped: internal error" in said and "No space left on device &lt;b&gt;" in said
    assert "may or may not have been appended" in said and "before pressing Record" in said
    under = _html(actions.outputs[FINDING])
    assert "Stopped: internal error" in under and "never overwritten" in under
    assert not [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    logged = [r for r in caplog.records if r.exc_info and r.name.startswith("torinvest.display")]
    assert len(logged) == 2  # the traceback is kept, in the kernel's log


def test_a_triage_button_whose_folder_cannot_be_written_says_what_to_do_in_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    actions = _triage_actions("file/inv")
    actions.buttons[FINDING].click()
    card = _html(actions.outputs[FINDING])
    assert "cannot write the working notebook" in card and "Not a directory" in card
    assert "notebooks_dir parameter" in card and "--out" not in card


def test_the_working_notebook_link_is_a_url_its_text_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named with ``#``, ``?`` or spaces: the link opens that folder's notebook (not
    ``cases`` with a fragment), and says the path as it is."""
    monkeypatch.chdir(tmp_path)
    actions = _triage_actions("cases #2?x")
    actions.buttons[FINDING].click()
    link = _html(actions.outputs[FINDING])
    rel = f"finding-{FINDING}/investigate.ipynb"
    assert f"href='cases%20%232%3Fx/{rel}'" in link
    assert f"<code>cases #2?x/{rel}</code>" in link
    assert (tmp_path / "cases #2?x" / f"finding-{FINDING}" / "investigate.ipynb").is_file()


def test_the_forms_message_is_one_line_whatever_another_analysts_verdict_holds(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    """A ledger others write to can hold a name or a rationale pages long, with markup, bidi
    overrides and zero-width characters: the message beside the button is cut, escaped and
    visible; the card below shows the whole text, escaped."""
    from torinvest.verdict import make_verdict, record_decision

    ledger = tmp_path / "ledger.jsonl"
    hostile = "<img src=x onerror=alert(1)>\u202egnp.exe\u200b<script>x</script>"
    form = display.VerdictForm(
        inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    long_name, long_why = hostile + "n" * 3000, hostile + "w" * 5000
    record_decision(
        make_verdict(FINDING, status="legitimate", analyst=long_name, rationale=long_why), ledger
    )
    form.status.value, form.rationale.value = "malicious", "tor + CreateUser"
    assert form.record()["refused"]
    said = form.message.value
    assert len(said) < 1000 and said.count("…") == 2 and "press again" in said
    assert "&lt;img src=x" in said and "\\u202egnp.exe\\u200b" in said
    assert "<img" not in said and "\u202e" not in said and "\u200b" not in said
    assert "w" * 5000 in _html(form.output)  # the card: the whole rationale
    assert form.record()["added"]
    said = form.message.value
    assert len(said) < 1000 and "supersedes legitimate by &lt;img" in said and "…" in said


class _Slot:
    """The answer's display handle, as ``display(…, display_id=True)`` returns it."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, page: object) -> None:
        self.shown.append(str(getattr(page, "data", page)))


def _verdict_tile(page: str) -> str:
    """The answer's Verdict tile (its status, up to the next tile)."""
    return page[page.index(">Verdict<") :][:400]


def test_the_answer_on_top_says_the_verdict_the_form_recorded(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    """In JupyterLab the answer is drawn by the last cell, from the verdict the parameters
    decided (pending); a verdict recorded with the form below it redraws the answer — its
    Verdict tile said "pending" beside the form's "Recorded: malicious". An answer drawn after
    a recording (the last cell run again) shows the recorded one too."""
    inv = dataclasses.replace(inv)  # this notebook run's own (the others recorded theirs)
    ledger = tmp_path / "ledger.jsonl"
    verdict = report.decide(inv, finding_id=FINDING, ledger=ledger)
    form = display.VerdictForm(inv, verdict, analyst="ana")
    slot = _Slot()
    display.answer_first(slot, inv, verdict)
    assert "pending" in _verdict_tile(slot.shown[-1])
    form.status.value = "malicious"
    form.rationale.value = "Tor calls and CreateUser"
    form.button.click()
    assert "Recorded: <b>malicious</b>" in form.message.value
    assert len(slot.shown) == 2
    tile = _verdict_tile(slot.shown[-1])
    assert "malicious" in tile and "pending" not in tile and "ana" in tile
    again = _Slot()
    display.answer_first(again, inv, verdict)  # the last cell, run again with its variable
    assert "malicious" in _verdict_tile(again.shown[-1])
    # the notebook run again (over another ledger): a new investigation's answer is its own
    fresh = dataclasses.replace(inv)
    display.answer_first(
        again, fresh, report.decide(fresh, finding_id=FINDING, ledger=tmp_path / "other.jsonl")
    )
    assert "pending" in _verdict_tile(again.shown[-1])


def test_a_form_made_with_an_investigation_made_again_since_records_nothing(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    """The form stays on screen when the cells above it run again (another window, another
    case folder): a press records nothing against the investigation the form was made with,
    which is no longer the one on screen, and says to run the verdict cells again."""
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    try:
        ledger = tmp_path / "ledger.jsonl"
        shell.user_ns["inv"] = inv
        form = display.VerdictForm(
            inv, report.decide(inv, finding_id=FINDING, ledger=ledger), analyst="ana"
        )
        form.status.value, form.rationale.value = "malicious", "Tor calls, CreateUser"
        shell.user_ns["inv"] = dataclasses.replace(inv)  # the investigation cells ran again
        form.button.click()
        assert "NotCurrentError" in form.message.value and "no longer" in form.message.value
        assert "run the verdict cells again" in form.message.value
        assert not ledger.exists()
        del shell.user_ns["inv"]  # removed as not current: the same
        form.button.click()
        assert "no longer" in form.message.value and not ledger.exists()
        shell.user_ns["inv"] = inv  # the form's own again (the cell undone): recorded
        form.button.click()
        assert "Recorded: <b>malicious</b>" in form.message.value
    finally:
        InteractiveShell.clear_instance()
