"""Every ``torinvest …`` command torinvest prints as a next step names the access the run that
printed it was given — ``--case``, ``--role-arn``, ``--external-id``, ``--regions``, ``--logs``,
the engine — and nothing else (no credentials: a profile names them), each value one argument
once the shell has split it (a quote, ``$(…)``, a newline in a path or a name stays inside it).

The test of the class: each printer (:data:`PRINTERS`) is run over the same access; its
command, split by :mod:`shlex` and parsed by torinvest's own parser, must give that access back.

The printers that build a command later, from a saved report (:data:`SAVED`: ``torinvest
post``'s answer, from ``summary.json``), give it back from the report's ``access``; a summary
without ``access`` (an earlier torinvest) or with one torinvest cannot have written gives
commands naming none, and a note that says so. Those whose command goes into what torinvest
posts (:data:`POSTED`: the report's files too) carry the external ID as
``"$TORINVEST_EXTERNAL_ID"``, which a shell expands (the report records that one was used, not
its value).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.post.conftest import summary_data
from tests.sample_window import COVERED
from torinvest import campaign, commands, investigation, notebooks, runner
from torinvest.case import sample_case
from torinvest.cli import build_parser
from torinvest.cli.args import names_a_source
from torinvest.cli.demo import next_steps
from torinvest.commands import Access
from torinvest.display.answer import _next_html
from torinvest.display.assessment import suppression_notes
from torinvest.errors import RefusedError
from torinvest.findings import read_findings
from torinvest.investigation import locate
from torinvest.parameters import Sources, sources_from_parameters
from torinvest.post.answer import build_answer
from torinvest.report.batch import investigate_command, triage_frame
from torinvest.report.summary import check_summary_data, summary_problems
from torinvest.report.summary import summary_data as report_summary
from torinvest.runner.gate import blind_archive

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
WINDOW = (pd.Timestamp("2023-06-26T12:17:08Z"), pd.Timestamp("2023-07-17T12:20:04Z"))
ROLE = "arn:aws:iam::123456789012:role/TorinvestReader"
EXTERNAL_ID = "ext-1234:team/a"
#: what a shell would run or split on, in a path a printed command carries
HOSTILE = ["x'; touch pwned; '", "$(touch pwned)", "a\nb", '`id` "q" $HOME', "-x y"]


def parsed(command: str) -> argparse.Namespace:
    """``command`` as a shell splits it, parsed by torinvest's own parser (a usage error fails
    the test: SystemExit). ``"--external-id=$TORINVEST_EXTERNAL_ID"`` (a command built from a
    saved report) is expanded as the shell would, with the variable set to the run's external
    ID (:func:`test_a_posted_command_run_by_a_shell_reads_the_external_id_from_its_variable`
    runs such commands in a real shell)."""
    argv = shlex.split(command)
    assert argv[0] == "torinvest"
    argv = [
        a.replace(commands.EXTERNAL_ID_PLACEHOLDER, EXTERNAL_ID)
        if a == f"--external-id={commands.EXTERNAL_ID_PLACEHOLDER}"
        else a
        for a in argv
    ]
    return build_parser().parse_args(argv[1:])


def access_of(args: argparse.Namespace) -> Access:
    """The access a parsed command names (``events --case`` is a list)."""
    case = getattr(args, "case", None)
    if isinstance(case, list):
        (case,) = case or [None]
    regions = getattr(args, "regions", None)
    return Access(
        case=case,
        profile=getattr(args, "profile", None),
        regions=None if case or regions == "all" else regions,
        role_arn=getattr(args, "role_arn", None),
        external_id=getattr(args, "external_id", None),
        logs=tuple(getattr(args, "logs", None) or ()),
        engine=getattr(args, "engine", "files") or "files",
        athena_database=getattr(args, "athena_database", None),
        athena_table=getattr(args, "athena_table", None),
        athena_workgroup=getattr(args, "athena_workgroup", None),
        athena_output=getattr(args, "athena_output", None),
    )


def _code(markup: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<code>(torinvest .*?)</code>", markup, re.S)]


def _gate_hint(access: Access, ledger: Path) -> list[str]:
    """The refusal of ``actions --execute`` without a verdict: the verdict command to run."""
    with pytest.raises(RefusedError) as e:
        runner.require_verdict(FINDING, "remediate", ledger=ledger, access=access)
    hint = str(e.value.hint)
    return [hint[hint.index("torinvest verdict") :].split(" (or --status")[0]]


#: a verdict that judged the finding at count 1, and GuardDuty's copy of it now (count 2)
_JUDGED = {
    "finding_id": FINDING,
    "status": "legitimate",
    "analyst": "ana",
    "recorded_at": "2023-07-17T13:00:00Z",
    "finding_state": {"count": 1},
}
_NOW = {"id": FINDING, "count": 2}


def _stale_hint(access: Access, ledger: Path) -> list[str]:
    """The refusal of an archive whose finding changed since the verdict: the command that
    re-investigates it and the one that records the verdict again."""
    refusal = runner.stale_verdict(_JUDGED, _NOW, ledger, access)
    assert refusal is not None
    hint = str(refusal.hint)
    head, _, tail = hint.partition(") and record the verdict again with the evidence (")
    assert head.startswith("re-investigate it (torinvest investigate ") and tail.endswith(")")
    return [head.removeprefix("re-investigate it ("), tail[:-1]]


def _inv(src: Sources) -> SimpleNamespace:
    return SimpleNamespace(key=SimpleNamespace(finding_id=FINDING), sources=src)


def _posted(status: str, access: Access | None, ledger: list[dict] | None = None) -> list[str]:
    """The command of ``torinvest post``'s answer (every destination posts it: Jira, ServiceNow,
    Security Incident Response) for a saved report whose run had ``access`` (None: a summary
    written before the access was recorded), its verdict ``status``."""
    data = summary_data()
    data["verdict"] = {
        "status": status,
        "analyst": None if status == "pending" else "ana",
        "rationale": None if status == "pending" else "seen",
        "recorded_at": None if status == "pending" else "2023-07-11T09:00:00Z",
    }
    if access is not None:
        data["access"] = access.summary()
        # as summary.json's contract has it (the fixture is an earlier run's: its own keys not)
        assert [p for p in summary_problems(data) if p.startswith("access")] == []
    text = build_answer(data, ledger or []).text
    return [_next_command(text)]


def _next_command(text: str) -> str:
    """The command of an answer's ``Next step:`` line (a newline inside a quoted path is part
    of it: the command runs to the ``Note:``/``Generated`` line after it)."""
    step = text[text.index("\nNext step: ") + 1 :]
    step = re.split(r"\n(?:Note: |Generated )", step)[0]
    return step[step.index(" torinvest ") + 1 :]


def _triage(src: Sources, access: Access) -> list[str]:
    found = read_findings(sample_case().findings).tor_only()
    return list(triage_frame(found, access=access)["command"])


#: name → (sources, their access, tmp folder) → the commands it prints
PRINTERS: dict[str, Callable[[Sources, Access, Path], list[str]]] = {
    "triage table (investigate_command)": lambda s, a, t: _triage(s, a),
    "investigate_command, option by option": lambda s, a, t: (
        [
            investigate_command(
                FINDING,
                case_dir=a.case,
                regions=a.regions,
                role_arn=a.role_arn,
                external_id=a.external_id,
                logs=a.logs,
                out_dir=str(t),
            )
        ]
        if a.engine == "files"
        else [investigate_command(FINDING, access=a)]
    ),
    "report next step, pending": lambda s, a, t: _code(_next_html(_inv(s), {})),
    "report next step, legitimate": lambda s, a, t: _code(
        _next_html(_inv(s), {"status": "legitimate"})
    ),
    "report next step, malicious": lambda s, a, t: _code(
        _next_html(_inv(s), {"status": "malicious"})
    ),
    "plan card, suppression rules": lambda s, a, t: [
        n[n.index("(torinvest ") + 1 : -1]
        for n in suppression_notes(
            locate(read_findings(sample_case().findings).tor_only(), FINDING)[0],
            FINDING,
            Access.of_report(s),  # as the report's plan card passes it
        )
        if "(torinvest " in n
    ],
    "campaign pivot, investigate": lambda s, a, t: [
        campaign.command_for({"access_key_id": KEY}, s, WINDOW, {KEY: FINDING}) or ""
    ],
    "campaign pivot, events": lambda s, a, t: [
        campaign.command_for({"access_key_id": KEY}, s, WINDOW, {}) or ""
    ],
    "actions gate refusal": lambda s, a, t: _gate_hint(a, t / "ledger.jsonl"),
    "archive refusal, finding changed since the verdict": lambda s, a, t: _stale_hint(
        a, t / "ledger.jsonl"
    ),
    "verdict_command": lambda s, a, t: [commands.verdict_command(FINDING, "malicious", access=a)],
    "posted answer, pending": lambda s, a, t: _posted("pending", a),
    "posted answer, legitimate": lambda s, a, t: _posted("legitimate", a),
    "posted answer, malicious": lambda s, a, t: _posted("malicious", a),
}
#: The printers that build their command from a saved report (summary.json), not from the run.
SAVED = {name for name in PRINTERS if name.startswith("posted answer")}
#: The printers whose command goes into what torinvest posts to other services — the report's
#: files (report.html; summary.json's IP pivot) and the posted answer: the external ID is read
#: from ``$TORINVEST_EXTERNAL_ID``, never written (summary.json records that one was used).
POSTED = SAVED | {
    name for name in PRINTERS if name.startswith(("report next step", "plan card", "campaign"))
}


def _case_run(tmp_path: Path, value: str) -> Sources:
    case = tmp_path / f"case {value}"
    case.symlink_to(sample_case().root, target_is_directory=True)
    logs = tmp_path / f"logs {value}"
    logs.mkdir()
    return sources_from_parameters(case_dir=str(case), logs=[str(logs)])


def _aws_run(tmp_path: Path, value: str) -> Sources:
    logs = tmp_path / f"logs {value}"
    logs.mkdir()
    return sources_from_parameters(
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
        regions="us-east-1,eu-west-1",
        logs=[str(logs)],
        engine="duckdb",
    )


def _with_placeholders(command: str) -> str:
    """A verdict command's status choices (``a|b|c``) replaced by one, so that it parses."""
    return command.replace("'malicious|legitimate|inconclusive'", "malicious")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("run", [_case_run, _aws_run], ids=["case", "aws"])
@pytest.mark.parametrize("printer", list(PRINTERS))
def test_every_printed_command_names_the_access_of_the_run_that_printed_it(
    printer: str,
    run: Callable[[Path, str], Sources],
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    src = run(tmp_path, value)
    access = Access.of_sources(src)
    assert access.logs and (access.case or access.external_id)  # the run names them
    printed = PRINTERS[printer](src, access, tmp_path)
    assert printed and all(printed), printer
    for command in printed:
        args = parsed(_with_placeholders(command))
        assert access_of(args) == access, (printer, command)
        assert printer not in POSTED or EXTERNAL_ID not in command, (printer, command)
        assert re.fullmatch(r"[0-9a-f]{32}", getattr(args, "finding_id", None) or "0" * 32)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", HOSTILE)
def test_the_notebook_and_demo_commands_name_their_access(value: str, tmp_path: Path) -> None:
    """``notebook FINDING_ID`` takes the external ID with its role; ``notebook --triage``
    refuses one, so the triage copy's command carries none; demo's name the case folder."""
    args = parsed(
        notebooks.notebook_command(
            FINDING,
            profile=value,
            regions="us-east-1",
            role_arn=ROLE,
            external_id=EXTERNAL_ID,
            out=tmp_path / value,
        )
    )
    assert (args.profile, args.regions, args.role_arn, args.external_id) == (
        value,
        "us-east-1",
        ROLE,
        EXTERNAL_ID,
    )
    assert args.out == str((tmp_path / value).resolve())
    triage = parsed(notebooks.notebook_command(None, role_arn=ROLE, external_id=EXTERNAL_ID))
    assert triage.triage and triage.role_arn == ROLE and triage.external_id is None
    if "\n" in value:  # demo's lines are read one by one; its case is the package's folder
        return
    steps = [line.strip() for line in next_steps(FINDING, value).splitlines()]
    got = [parsed(line) for line in steps if line.startswith("torinvest ")]
    assert [(a.command, a.case) for a in got] == [("investigate", value), ("notebook", value)]


def test_no_printed_command_carries_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in the environment (the chain's) never reach a printed command."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN")
    monkeypatch.chdir(tmp_path)
    src = _aws_run(tmp_path, "l")
    access = Access.of_sources(src)
    for name, printer in PRINTERS.items():
        for command in printer(src, access, tmp_path):
            assert "EXAMPLE" not in command, name


@pytest.mark.parametrize("access", [Access(), Access(profile="sec"), Access(regions="all")])
def test_a_verdict_an_archive_waits_for_reads_its_evidence(access: Access, tmp_path: Path) -> None:
    """The verdict command an archive refusal asks for (the finding changed since the verdict;
    a verdict without evidence) reads a source even when the refused run named none (the
    chain's credentials, every region): recorded as printed, it is not one more verdict without
    evidence the archive would refuse again."""
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(json.dumps({**_JUDGED, "finding_state": {}}) + "\n")
    without = blind_archive({**_JUDGED, "finding_state": {}}, "archive", FINDING, ledger, access)
    assert without is not None
    _, stale = _stale_hint(access, ledger)
    start = without.index("torinvest verdict")
    for command in (stale, without[start : without.index(", or over the source", start)]):
        args = parsed(command)
        assert names_a_source(args), command
        assert access_of(args) == replace(access, regions=None), command  # all: not named


# --------------------------------------------------------------------------------------------
# commands built from a saved report (summary.json's access)
# --------------------------------------------------------------------------------------------
def _shell_argv(command: str, env: dict[str, str], cwd: Path) -> list[str]:
    """The arguments ``command`` gives ``torinvest`` when a POSIX shell runs it (``torinvest``
    a function that prints its arguments): what an analyst who pastes it runs."""
    script = 'torinvest() { printf "%s\\0" "$@"; }\n' + command
    ran = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, check=True, env=env, cwd=cwd
    )
    return ran.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("status", ["pending", "legitimate", "malicious"])
def test_a_posted_command_run_by_a_shell_reads_the_external_id_from_its_variable(
    status: str, value: str, tmp_path: Path
) -> None:
    """Pasted into a shell with ``TORINVEST_EXTERNAL_ID`` set, the posted command gives
    torinvest the run's role, external ID, regions and log locations — the hostile ones as one
    argument each, nothing run — though the external ID itself is in no posted text."""
    src = _aws_run(tmp_path, value)
    access = Access.of_sources(src)
    (command,) = _posted(status, access)
    assert EXTERNAL_ID not in command and '"--external-id=$TORINVEST_EXTERNAL_ID"' in command
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TORINVEST_EXTERNAL_ID": EXTERNAL_ID}
    argv = _shell_argv(_with_placeholders(command), env, tmp_path)
    assert access_of(build_parser().parse_args(argv)) == access
    assert not (tmp_path / "pwned").exists()


def test_the_posted_answer_says_the_external_id_is_read_from_the_variable(
    tmp_path: Path,
) -> None:
    data = summary_data()
    data["access"] = Access.of_sources(_aws_run(tmp_path, "l")).summary()
    assert data["access"]["external_id"] is True  # that one was used, not which
    assert EXTERNAL_ID not in json.dumps(data)
    text = build_answer(data, []).text
    assert EXTERNAL_ID not in text
    (note,) = [line for line in text.splitlines() if line.startswith("Note: ")]
    assert note == f"Note: {commands.EXTERNAL_ID_NOTE}"
    assert "set TORINVEST_EXTERNAL_ID" in note and "keeps out of its reports and posts" in note


@pytest.mark.parametrize("status", ["pending", "legitimate", "malicious"])
def test_a_report_that_records_no_access_says_so_beside_the_command(status: str) -> None:
    """A summary.json written before the access was recorded: the command names none (no
    guess), and the answer says that, as printed, it reads the default account and regions."""
    (command,) = _posted(status, None)
    assert access_of(parsed(_with_placeholders(command))) == Access()
    text = build_answer({**summary_data(), "verdict": {"status": status}}, []).text
    assert "\nNote: this report does not record the access its run was given" in text
    assert "reads your default AWS account and every enabled region" in text


#: summary.json ``access`` values torinvest never writes (edited by hand), and what the note
#: names; none of them may reach a command.
BAD_ACCESS = {
    "role": ({"role_arn": "arn:aws:iam::123456789012:role/x'; touch pwned; '"}, "access.role_arn"),
    "role not text": ({"role_arn": ["arn:aws:iam::123456789012:role/R"]}, "access.role_arn"),
    "region": ({"regions": ["us-east-1", "$(touch pwned)"]}, "invalid region name"),
    "regions as text": ({"regions": "us-east-1"}, "access.regions"),
    "engine": ({"engine": "$(touch pwned)"}, "access.engine"),
    "external ID's value": ({"external_id": EXTERNAL_ID}, "access.external_id"),
    "logs": ({"logs": "/var/logs"}, "access.logs"),
    "profile": ({"profile": 7}, "access.profile"),
    "not an object": (None, "not an object"),
}


@pytest.mark.parametrize("bad", list(BAD_ACCESS))
def test_an_access_torinvest_cannot_have_written_gives_no_command_access(
    bad: str, tmp_path: Path
) -> None:
    change, said = BAD_ACCESS[bad]
    data = summary_data()
    good = Access.of_sources(_aws_run(tmp_path, "l")).summary()
    data["access"] = {**good, **change} if change is not None else ["access"]
    text = build_answer(data, []).text
    command = _next_command(text)
    assert access_of(parsed(_with_placeholders(command))) == Access(), command
    assert EXTERNAL_ID not in text and "pwned" not in command
    (note,) = [line for line in text.splitlines() if line.startswith("Note: ")]
    assert note.startswith("Note: the access recorded in this report's summary.json cannot be")
    assert said in note and "reads your default AWS account" in note


@pytest.mark.parametrize("value", HOSTILE[:2])
def test_summary_json_records_the_access_of_the_run(value: str, tmp_path: Path) -> None:
    """An investigation's summary.json holds the access it was given (checked by the contract),
    and the posted answer's command built from it names that access again."""
    src = _case_run(tmp_path, value)
    inv = investigation.investigate(FINDING, src, **COVERED)
    data = check_summary_data(report_summary(inv, {}))
    assert data["access"] == {
        "case": str(src.case.root),  # type: ignore[union-attr]
        "profile": None,
        "role_arn": None,
        "external_id": False,
        "regions": None,
        "logs": [str(tmp_path / f"logs {value}")],
        "engine": "files",
        "athena_database": None,
        "athena_table": None,
        "athena_workgroup": None,
        "athena_output": None,
    }
    text = build_answer(data, []).text
    assert access_of(parsed(_with_placeholders(_next_command(text)))) == Access.of_sources(src)
    assert "\nNote: " not in text


def test_the_access_summary_names_regions_engine_and_athena_without_the_external_id() -> None:
    access = Access(
        profile="sec",
        regions="us-east-1,eu-west-1",
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
        engine="athena",
        athena_database="db",
        athena_table="cloudtrail",
        athena_workgroup="wg",
        athena_output="s3://results/x y/",
    )
    saved = commands.saved_access({"access": access.summary()})
    assert saved.access == replace(access, external_id=commands.EXTERNAL_ID_PLACEHOLDER)
    assert saved.notes == (commands.EXTERNAL_ID_NOTE,)
    assert access.summary()["regions"] == ["us-east-1", "eu-west-1"]


def test_the_reports_commands_say_where_the_external_id_comes_from(tmp_path: Path) -> None:
    """The report's next step (report.html, posted as it is) names the role and reads the
    external ID from the variable, and says so; a run without one says nothing of it."""
    src = _aws_run(tmp_path, "l")
    markup = _next_html(_inv(src), {"status": "malicious"})
    assert EXTERNAL_ID not in markup and html.escape(commands.EXTERNAL_ID_NOTE) in markup
    assert "&quot;--external-id=$TORINVEST_EXTERNAL_ID&quot;" in markup
    without = _next_html(_inv(_case_run(tmp_path, "c")), {"status": "malicious"})
    assert "TORINVEST_EXTERNAL_ID" not in without and "Note:" not in without
