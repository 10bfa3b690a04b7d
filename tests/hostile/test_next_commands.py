"""Every ``torinvest …`` command torinvest prints as a next step names the access the run that
printed it was given — ``--case``, ``--role-arn``, ``--external-id``, ``--regions``, ``--logs``,
the engine — and nothing else (no credentials: a profile names them), each value one argument
once the shell has split it (a quote, ``$(…)``, a newline in a path or a name stays inside it).

The test of the class: each printer (:data:`PRINTERS`) is run over the same access; its
command, split by :mod:`shlex` and parsed by torinvest's own parser, must give that access back.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from torinvest import campaign, commands, notebooks, runner
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
from torinvest.report.batch import investigate_command, triage_frame
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
    the test: SystemExit)."""
    argv = shlex.split(command)
    assert argv[0] == "torinvest"
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
            locate(read_findings(sample_case().findings).tor_only(), FINDING)[0], FINDING, a
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
